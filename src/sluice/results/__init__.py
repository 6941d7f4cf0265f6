"""Result encodings: the Arrow IPC stream + base64 of the NDJSON path (``arrow``), and the
``resultType`` documents, CSV, JSON and XLSX (``documents``), with Omni's field formats."""
