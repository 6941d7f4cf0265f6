// The public API, as any client calls it: bearer token, /query/run, /query/wait, job status,
// cancel, history and the catalog. Errors are thrown as ApiError with the server's own words.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    message = body.detail || (body.error && body.error.message) || message;
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(response.status, message);
}

export class Api {
  constructor(key) {
    this.key = key;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.key}`, ...extra };
  }

  async get(path, params = {}) {
    const query = new URLSearchParams(
      Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""),
    ).toString();
    const response = await fetch(query ? `${path}?${query}` : path, { headers: this.headers() });
    if (!response.ok) throw await errorOf(response);
    return response.json();
  }

  whoami() {
    return this.get("/api/v1/whoami");
  }

  models() {
    return this.get("/api/v1/models", { pageSize: 100 });
  }

  topics(modelId) {
    return this.get(`/api/v1/models/${encodeURIComponent(modelId)}/topic`);
  }

  topic(modelId, name) {
    return this.get(`/api/v1/models/${encodeURIComponent(modelId)}/topic/${encodeURIComponent(name)}`);
  }

  history(params) {
    return this.get("/api/v1/query/jobs", params);
  }

  status(jobId) {
    return this.get(`/api/v1/query/jobs/${encodeURIComponent(jobId)}`);
  }

  async cancel(jobId) {
    const response = await fetch(`/api/v1/query/jobs/${encodeURIComponent(jobId)}`, {
      method: "DELETE",
      headers: this.headers(),
    });
    if (!response.ok) throw await errorOf(response);
    return response.json();
  }

  // POST /query/run holding at most `runWindowS` (so the job id is known at once), then
  // /query/wait until the job ends. `onJob(id)` is called as soon as the id is known.
  async run(query, { runWindowS = 1, onJob = () => {}, signal } = {}) {
    const response = await fetch(`/api/v1/query/run?runWindowS=${runWindowS}`, {
      method: "POST",
      headers: this.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ query }),
      signal,
    });
    if (!response.ok) throw await errorOf(response);
    let lines = ndjson(await response.text());
    const header = lines.find((l) => l.job_ids_to_client_result_ids || l.client_result_id);
    let job = lines.find((l) => l.job_id);
    let footer = lines[lines.length - 1];
    const jobId = job ? job.job_id : footer.remaining_job_ids && footer.remaining_job_ids[0];
    if (jobId) onJob(jobId, header);
    while (!job && footer.remaining_job_ids && footer.remaining_job_ids.length) {
      const params = new URLSearchParams({ job_ids: footer.remaining_job_ids.join(",") });
      const waited = await fetch(`/api/v1/query/wait?${params}`, { headers: this.headers(), signal });
      if (!waited.ok) throw await errorOf(waited);
      lines = ndjson(await waited.text());
      job = lines.find((l) => l.job_id);
      footer = lines[lines.length - 1];
    }
    return job;
  }

  // A result document (CSV, XLSX) of the same query: a download, through the same endpoint.
  async document(query, resultType) {
    const response = await fetch("/api/v1/query/run", {
      method: "POST",
      headers: this.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ query, resultType }),
    });
    if (!response.ok) throw await errorOf(response);
    return response.blob();
  }
}

export function ndjson(text) {
  return text
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line));
}
