"""Result encodings: Arrow IPC stream + base64 for the NDJSON path (CSV, JSON, XLSX later)."""
