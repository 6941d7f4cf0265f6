// Render /openapi.json with the vendored Redoc (no CDN: the footer logo it links is blocked by
// the page's Content-Security-Policy and simply not shown).
Redoc.init(
  "/openapi.json",
  {
    hideDownloadButton: false,
    expandResponses: "200",
    pathInMiddlePanel: true,
    theme: { colors: { primary: { main: "#3b6df6" } }, typography: { fontFamily: "system-ui, sans-serif", headings: { fontFamily: "system-ui, sans-serif" } } },
  },
  document.getElementById("redoc"),
);
