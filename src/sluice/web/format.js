// Omni's named field formats for display (the same rules as sluice/results/formats.py):
// number, percent, id, thousands, millions, billions, big, [code]currency, [code]accounting,
// each with an optional _<decimals>; a date pattern (%Y-%m-%d ...) for dates and timestamps.

const SYMBOLS = { usd: "$", eur: "€", gbp: "£", jpy: "¥", cny: "¥", inr: "₹", krw: "₩", aud: "A$", cad: "CA$", chf: "CHF " };
const NAMED = /^(?:(number|percent|id|thousands|millions|billions|big)|([a-z]{3})?(currency|accounting))(?:_(\d{1,2}))?$/;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function fixed(value, decimals) {
  const places = decimals === null ? { maximumFractionDigits: 2 } : { minimumFractionDigits: decimals, maximumFractionDigits: decimals };
  return value.toLocaleString("en-US", places);
}

export function formatNumber(value, format) {
  const number = Number(value);
  if (!Number.isFinite(number)) return String(value);
  const match = format ? NAMED.exec(format) : null;
  if (!match) return fixed(number, null);
  const [, plain, code, money, places] = match;
  const decimals = places === undefined ? null : Number(places);
  if (plain === "id") return String(value);
  if (plain === "percent") return `${fixed(number * 100, decimals)}%`;
  const scales = { thousands: [1e3, "K"], millions: [1e6, "M"], billions: [1e9, "B"] };
  if (plain === "big") {
    const abs = Math.abs(number);
    const found = abs >= 1e9 ? "billions" : abs >= 1e6 ? "millions" : abs >= 1e3 ? "thousands" : null;
    return found ? `${fixed(number / scales[found][0], decimals)}${scales[found][1]}` : fixed(number, decimals);
  }
  if (scales[plain]) return `${fixed(number / scales[plain][0], decimals)}${scales[plain][1]}`;
  if (money) {
    const symbol = code ? SYMBOLS[code] || `${code.toUpperCase()} ` : "$";
    const body = `${symbol}${fixed(Math.abs(number), decimals === null ? 2 : decimals)}`;
    if (number < 0) return money === "accounting" ? `(${body})` : `-${body}`;
    return body;
  }
  return fixed(number, decimals);
}

function pad(n, width = 2) {
  return String(n).padStart(width, "0");
}

export function formatDate(value, pattern, withTime) {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const parts = {
    Y: date.getUTCFullYear(), m: pad(date.getUTCMonth() + 1), d: pad(date.getUTCDate()),
    H: pad(date.getUTCHours()), M: pad(date.getUTCMinutes()), S: pad(date.getUTCSeconds()),
    b: MONTHS[date.getUTCMonth()], y: pad(date.getUTCFullYear() % 100),
  };
  if (pattern && pattern.includes("%")) return pattern.replace(/%([YmdHMSby])/g, (_, c) => parts[c]);
  const day = `${parts.Y}-${parts.m}-${parts.d}`;
  const time = `${parts.H}:${parts.M}:${parts.S}`;
  return withTime && time !== "00:00:00" ? `${day} ${time}` : day;
}

// One cell for display: `meta` is the field's summary (data_type, format).
export function formatCell(value, meta) {
  if (value === null || value === undefined) return "∅";
  const type = (meta && meta.data_type || "").toUpperCase();
  const format = meta && meta.format ? meta.format.value : null;
  if (value instanceof Date || type === "DATE" || type === "TIMESTAMP") {
    return value instanceof Date || typeof value === "number" ? formatDate(value, format, type === "TIMESTAMP") : String(value);
  }
  if (typeof value === "bigint") return formatNumber(Number(value), format);
  if (typeof value === "number") return formatNumber(value, format);
  if (typeof value === "boolean") return value ? "Yes" : "No";
  return String(value);
}
