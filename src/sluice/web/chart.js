// Charts drawn as SVG, chosen from the result's shape: a line over a time dimension, bars over
// a category, one big number for a single measure (and a table-less "number" for one value).

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#3b6df6", "#f08c2e", "#21a67a", "#d94b6a", "#8a5cf5", "#1aa3c4", "#b98a12", "#6b7280"];

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// The chart kinds that fit: `columns` are {name, label, isDimension, isTime}.
export function chartKinds(columns, rowCount) {
  const measures = columns.filter((c) => !c.isDimension);
  const dims = columns.filter((c) => c.isDimension);
  if (!measures.length || !rowCount) return [];
  if (!dims.length && rowCount === 1) return ["number"];
  const kinds = [];
  if (dims.some((d) => d.isTime)) kinds.push("line");
  if (dims.length) kinds.push("bar");
  if (dims.length && !kinds.includes("line")) kinds.push("line");
  if (rowCount === 1) kinds.push("number");
  return kinds;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

// Series: a time dimension (or the first dimension) on x; the first measure on y; a second
// dimension (a category) splits the series.
function series(rows, columns) {
  const dims = columns.filter((c) => c.isDimension);
  const x = dims.find((d) => d.isTime) || dims[0];
  const split = dims.find((d) => d !== x);
  const measure = columns.find((c) => !c.isDimension);
  const xs = [...new Set(rows.map((r) => r.keys[x.name]))];
  const groups = new Map();
  for (const row of rows) {
    const group = split ? String(row.text[split.name]) : measure.label;
    if (!groups.has(group)) groups.set(group, new Map());
    const value = Number(row.values[measure.name] ?? 0);
    const bucket = groups.get(group);
    bucket.set(row.keys[x.name], (bucket.get(row.keys[x.name]) || 0) + value);
  }
  const labels = new Map(rows.map((r) => [r.keys[x.name], r.text[x.name]]));
  const ordered = x.isTime ? xs.slice().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) : xs;
  const top = [...groups.entries()].slice(0, COLORS.length);
  return { x, measure, xs: ordered, labels, groups: top, format: measure.format };
}

export function drawChart(container, kind, rows, columns, formatValue) {
  container.replaceChildren();
  container.dataset.kind = kind;
  if (kind === "number") {
    const measure = columns.find((c) => !c.isDimension);
    const box = document.createElement("div");
    box.className = "big-number";
    box.innerHTML = `<div class="value"></div><div class="label"></div>`;
    box.querySelector(".value").textContent = rows[0].text[measure.name];
    box.querySelector(".label").textContent = measure.label;
    container.append(box);
    return;
  }
  const { x, measure, xs, labels, groups } = series(rows, columns);
  const width = Math.max(container.clientWidth || 720, 360);
  const height = 300;
  const pad = { left: 72, right: 16, top: 16, bottom: 56 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const all = groups.flatMap(([, values]) => [...values.values()]);
  const max = niceMax(Math.max(0, ...all));
  const min = Math.min(0, ...all);
  const y = (v) => pad.top + plotH - ((v - min) / (max - min || 1)) * plotH;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", height, role: "img" });
  svg.append(el("title", {}, `${measure.label} by ${x.label}`));
  for (let i = 0; i <= 4; i++) {
    const v = min + ((max - min) * i) / 4;
    svg.append(el("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(el("text", { x: pad.left - 8, y: y(v) + 4, class: "tick", "text-anchor": "end" }, formatValue(measure, v)));
  }
  const band = plotW / Math.max(xs.length, 1);
  const every = Math.ceil(xs.length / Math.max(1, Math.floor(plotW / 70)));
  xs.forEach((key, i) => {
    if (i % every) return;
    const cx = pad.left + band * i + band / 2;
    svg.append(el("text", { x: cx, y: height - pad.bottom + 18, class: "tick", "text-anchor": "middle" }, String(labels.get(key)).slice(0, 14)));
  });
  if (kind === "bar") {
    const inner = (band * 0.8) / groups.length;
    groups.forEach(([name, values], g) => {
      xs.forEach((key, i) => {
        const v = values.get(key);
        if (v === undefined) return;
        const top = y(Math.max(v, 0));
        const rect = el("rect", {
          x: pad.left + band * i + band * 0.1 + inner * g, y: top, width: Math.max(inner - 1, 1),
          height: Math.max(Math.abs(y(v) - y(0)), 1), fill: COLORS[g], class: "bar",
        });
        rect.append(el("title", {}, `${name} · ${labels.get(key)}: ${formatValue(measure, v)}`));
        svg.append(rect);
      });
    });
  } else {
    groups.forEach(([name, values], g) => {
      const points = xs
        .map((key, i) => (values.has(key) ? `${pad.left + band * i + band / 2},${y(values.get(key))}` : null))
        .filter(Boolean);
      svg.append(el("polyline", { points: points.join(" "), fill: "none", stroke: COLORS[g], "stroke-width": 2.5, class: "line" }));
      const title = el("title", {}, name);
      svg.lastChild.append(title);
    });
  }
  svg.append(el("text", { x: pad.left + plotW / 2, y: height - 8, class: "axis", "text-anchor": "middle" }, x.label));
  container.append(svg);
  if (groups.length > 1) {
    const legend = document.createElement("div");
    legend.className = "legend";
    groups.forEach(([name], g) => {
      const item = document.createElement("span");
      item.innerHTML = `<i style="background:${COLORS[g]}"></i>`;
      item.append(document.createTextNode(name));
      legend.append(item);
    });
    container.append(legend);
  }
}
