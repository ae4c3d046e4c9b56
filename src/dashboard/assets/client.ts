/**
 * The dashboard's only script, an enhancement: copy buttons for SQL, charts
 * (uPlot), the live tail over server-sent events. Every page works without it.
 */
export const JS = `(() => {
  'use strict';
  for (const b of document.querySelectorAll('button[data-copy]')) {
    b.hidden = false;
    b.addEventListener('click', async () => {
      const text = document.getElementById(b.dataset.copy).textContent;
      try { await navigator.clipboard.writeText(text); b.textContent = 'Copied'; }
      catch { const r = document.createRange(); r.selectNodeContents(document.getElementById(b.dataset.copy));
        const s = getSelection(); s.removeAllRanges(); s.addRange(r); b.textContent = 'Selected: press Ctrl+C'; }
      setTimeout(() => { b.textContent = 'Copy'; }, 2000);
    });
  }

  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const palette = ['#0969da', '#cf222e', '#1a7f37', '#9a6700', '#8250df', '#bf3989', '#0a7b83', '#6e7781'];
  function drawCharts() {
    if (!window.uPlot) return;
    for (const grid of document.querySelectorAll('[data-chart]')) {
      const data = JSON.parse(document.getElementById(grid.dataset.chart).textContent);
      grid.textContent = '';
      // Two significant digits: a slow function's 0.005/s must not read as 0.01/s.
      const rate = (v) => v == null ? '' : (v >= 100 ? v.toFixed(0) : String(Number(v.toPrecision(2)))) + '/s';
      const panels = [
        ['Attempts per second', data.rate, rate],
        ['Errors per second', data.errors, rate],
        ['p50 duration', data.p50, (v) => v == null ? '' : v.toFixed(1) + ' ms'],
        ['p95 duration', data.p95, (v) => v == null ? '' : v.toFixed(1) + ' ms'],
        ['p99 duration', data.p99, (v) => v == null ? '' : v.toFixed(1) + ' ms'],
      ];
      const width = Math.max(320, Math.floor(grid.clientWidth / (grid.clientWidth > 900 ? 2 : 1)) - 30);
      for (const [title, series, fmt] of panels) {
        const fig = document.createElement('figure');
        const cap = document.createElement('figcaption');
        cap.textContent = title;
        fig.append(cap);
        grid.append(fig);
        const axis = { stroke: css('--muted'), grid: { stroke: css('--line') }, ticks: { stroke: css('--line') } };
        new uPlot({
          width, height: 200,
          series: [{}, ...data.keys.map((k, i) => ({ label: k || '(none)', stroke: palette[i % palette.length], width: 1.5, value: (u, v) => fmt(v), spanGaps: true }))],
          axes: [axis, { ...axis, values: (u, vals) => vals.map((v) => fmt(v)), size: 70 }],
          scales: { x: { time: true } },
        }, [data.times, ...series], fig);
      }
    }
  }
  drawCharts();

  const body = document.getElementById('live-rows');
  if (body) {
    const state = document.getElementById('live-state');
    const seen = new Set();
    let last = null;
    const cell = (tr, text, cls) => { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.append(td); return td; };
    function connect() {
      const url = body.dataset.stream + (last !== null ? '?after=' + encodeURIComponent(last) : '');
      const es = new EventSource(url);
      window.pgdLive = es;
      es.addEventListener('ready', (e) => { last = e.lastEventId || last; state.textContent = 'Live: showing attempts as they are recorded.'; });
      es.addEventListener('cursor', (e) => { last = e.lastEventId || last; });
      es.addEventListener('attempt', (e) => {
        const a = JSON.parse(e.data);
        if (seen.has(a.id)) return;
        seen.add(a.id);
        const tr = document.createElement('tr');
        tr.className = 'new';
        tr.dataset.attemptId = a.id;
        tr.dataset.callId = a.call_id;
        cell(tr, a.id, 'num');
        const link = document.createElement('a');
        link.href = document.body.dataset.base + '/calls/' + a.call_id;
        link.textContent = a.call_id;
        cell(tr, '').append(link);
        cell(tr, a.function + (a.endpoint ? ' → ' + a.endpoint : ''));
        cell(tr, a.attempt, 'num');
        const badge = document.createElement('span');
        badge.className = 'badge ' + (a.status === 'ok' ? 'good' : 'bad');
        badge.textContent = a.status;
        cell(tr, '').append(badge);
        cell(tr, a.http_status == null ? '' : a.http_status, 'num');
        cell(tr, a.duration_ms == null ? '' : Number(a.duration_ms).toFixed(1) + ' ms', 'num');
        cell(tr, new Date(a.finished_at).toISOString().replace('T', ' ').slice(0, 23) + 'Z');
        cell(tr, a.error || '', 'err');
        body.prepend(tr);
        while (body.children.length > 500) body.lastElementChild.remove();
      });
      es.onerror = () => {
        state.textContent = 'Reconnecting…';
        // Resume from the last cursor the server confirmed: ?after= says where.
        es.close();
        setTimeout(connect, 1000);
      };
    }
    connect();
  }
})();
`;
