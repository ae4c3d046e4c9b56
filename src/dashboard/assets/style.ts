/** The dashboard's stylesheet: system fonts, light and dark from prefers-color-scheme. */
export const CSS = `
:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --panel: #f6f8fa;
  --link: #0550ae; --good: #116329; --good-bg: #dafbe1; --bad: #a40e26; --bad-bg: #ffebe9;
  --wait: #7d4e00; --wait-bg: #fff8c5; --accent: #0969da; --focus: #0969da;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #9da7b3; --line: #30363d; --panel: #161b22;
    --link: #79c0ff; --good: #7ee787; --good-bg: #12261e; --bad: #ffa198; --bad-bg: #3c1618;
    --wait: #e3b341; --wait-bg: #2e2a12; --accent: #388bfd; --focus: #79c0ff;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
a { color: var(--link); }
:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: var(--panel); padding: 4px 8px; }
.skip:focus { left: 8px; }
header { border-bottom: 1px solid var(--line); background: var(--panel); }
header nav { display: flex; gap: 4px 16px; align-items: center; flex-wrap: wrap; padding: 10px 20px; max-width: 1400px; margin: 0 auto; }
header nav a { text-decoration: none; color: var(--fg); padding: 2px 0; border-bottom: 2px solid transparent; }
header nav a[aria-current="page"] { border-bottom-color: var(--accent); font-weight: 600; }
header nav .brand { font-weight: 700; margin-right: 12px; }
main { padding: 8px 20px 40px; max-width: 1400px; margin: 0 auto; }
h1 { font-size: 22px; margin: 14px 0 12px; }
h2 { font-size: 16px; margin: 22px 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { font-weight: 600; color: var(--muted); white-space: nowrap; background: var(--panel); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
time { white-space: nowrap; font-variant-numeric: tabular-nums; }
.muted, .empty { color: var(--muted); }
.err { color: var(--bad); max-width: 36em; overflow-wrap: anywhere; }
.url { white-space: nowrap; }
dd.url { white-space: normal; overflow-wrap: anywhere; }
.countdown { white-space: nowrap; }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; font-weight: 600;
  border: 1px solid currentColor; white-space: nowrap; }
.badge.good { color: var(--good); background: var(--good-bg); }
.badge.bad { color: var(--bad); background: var(--bad-bg); }
.badge.wait { color: var(--wait); background: var(--wait-bg); }
.badge.muted, .badge.ro { color: var(--muted); background: var(--panel); }
form.filters { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: end; padding: 10px 12px;
  background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
form.filters label { display: flex; flex-direction: column; gap: 2px; font-size: 12px; color: var(--muted); }
fieldset { border: 0; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: 2px 10px; align-items: center; }
fieldset label { flex-direction: row !important; align-items: center; gap: 4px !important; color: var(--fg) !important; font-size: 13px !important; }
legend { font-size: 12px; color: var(--muted); padding: 0; margin-bottom: 2px; }
input, select, button { font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--line);
  border-radius: 5px; padding: 4px 8px; }
input[type="checkbox"] { padding: 0; }
button { cursor: pointer; background: var(--panel); }
button:hover { border-color: var(--accent); }
button.danger { color: var(--bad); }
button:disabled { opacity: .5; cursor: not-allowed; }
.count { margin: 12px 0 6px; }
.pager { display: flex; gap: 16px; margin: 12px 0; }
.bulk { margin-top: 24px; padding-top: 4px; border-top: 1px solid var(--line); }
.bulk form, .actions { display: flex; gap: 10px; flex-wrap: wrap; align-items: center; }
.actions form { display: inline-flex; gap: 8px; align-items: center; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0 0 16px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
ol.timeline { list-style: none; padding: 0; margin: 0; border-left: 2px solid var(--line); }
ol.timeline li { position: relative; padding: 6px 0 8px 16px; display: flex; flex-wrap: wrap; gap: 4px 10px; align-items: baseline; }
ol.timeline li::before { content: ""; position: absolute; left: -6px; top: 11px; width: 10px; height: 10px;
  border-radius: 50%; background: var(--bg); border: 2px solid var(--muted); }
ol.timeline li.attempt::before { border-color: var(--accent); }
ol.timeline li.next::before { border-style: dashed; }
ol.timeline .what { font-weight: 600; min-width: 7em; }
ol.timeline details, ol.timeline p { flex-basis: 100%; margin: 0; }
.actor { font-style: italic; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px;
  overflow: auto; max-height: 24em; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; margin: 4px 0; }
details > summary { cursor: pointer; color: var(--link); }
.cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 0 24px; }
.sql { margin-top: 32px; border-top: 1px solid var(--line); }
.sql h2 { color: var(--muted); }
.sql details { margin: 4px 0; }
.copy { margin-bottom: 6px; }
.notice { padding: 8px 12px; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); }
.chart-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 12px; }
.chart-grid figure { margin: 0; padding: 8px; border: 1px solid var(--line); border-radius: 6px; }
.chart-grid figcaption { font-weight: 600; margin-bottom: 4px; }
.uplot { font-family: inherit; }
.u-legend { color: var(--fg); }
.secret { font-size: 14px; }
table.live tbody tr.new { animation: flash 1.5s ease-out; }
@keyframes flash { from { background: var(--wait-bg); } to { background: transparent; } }
table.schedules code, table.steps code { white-space: nowrap; }
ul.recent { list-style: none; margin: 0; padding: 0; }
ul.recent li { white-space: nowrap; margin-bottom: 2px; }
.waits ul { margin: 0; padding-left: 20px; }
`;
