// Where the three APIs are. /config.json is written by whatever serves the page (the native
// server tools/native/storefront.py, or nginx in compose from STOREFRONT_*_API); without it,
// the services are assumed on this page's host at their default ports. The URLs may also be
// paths on this origin ("/user"), for a deployment behind one host.

const DEFAULT_PORTS = { userApi: 8001, productApi: 8002, orderApi: 8003 };

export async function loadConfig() {
  const fallback = {};
  for (const [name, port] of Object.entries(DEFAULT_PORTS)) {
    fallback[name] = `${location.protocol}//${location.hostname}:${port}`;
  }
  try {
    const response = await fetch("config.json", { cache: "no-cache" });
    if (!response.ok) return fallback;
    const loaded = await response.json();
    const config = { ...fallback };
    for (const name of Object.keys(DEFAULT_PORTS)) {
      if (typeof loaded[name] === "string" && loaded[name]) {
        config[name] = loaded[name].replace(/\/+$/, "");
      }
    }
    return config;
  } catch {
    return fallback;
  }
}
