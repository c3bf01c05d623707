/** The page at `/` until the dashboard (web/) is built. */
export function placeholderPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drover</title>
<style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:4rem auto;padding:0 1rem;line-height:1.5}code{background:#f3f3f3;padding:.1rem .3rem}</style>
</head><body>
<h1>Drover</h1>
<p>The control plane is running. The dashboard is not built yet.</p>
<ul>
<li>GraphQL API and GraphiQL: <a href="/graphql">/graphql</a></li>
<li>Point a Prefect 1 client at it: <code>[cloud] api = "http://HOST:PORT/graphql"</code> in <code>~/.prefect/config.toml</code>,
then <code>prefect backend cloud</code> and <code>prefect auth login --key &lt;your Drover API key&gt;</code>.</li>
</ul>
</body></html>`;
}
