// Dashboard: draws one stacked bar chart per currency from the JSON the server renders into
// <div id="dashboard-data" data-chart='…'>, and draws again after htmx swaps in a new period or
// restores the page from history. (Not a <script type="application/json"> block: htmx, with
// allowScriptTags off, strips every <script> from swapped content.) No inline scripts: CSP.
(function () {
  "use strict";

  const METRICS = {
    gross: { money: true, title: "Gross sales" },
    net: { money: true, title: "Net" },
    charges: { money: false, title: "Sales + rebills" },
    refunds: { money: false, title: "Refunds" },
  };
  const chosen = {}; // currency -> metric, kept across period changes

  function readData() {
    const el = document.getElementById("dashboard-data");
    if (!el) return null;
    try {
      return JSON.parse(el.getAttribute("data-chart"));
    } catch (e) {
      return null;
    }
  }

  function dayLabel(iso) {
    const [y, m, d] = iso.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
  }

  function formatter(currency, metric) {
    if (!METRICS[metric].money) return (v) => Number(v).toLocaleString();
    let fmt;
    try {
      fmt = new Intl.NumberFormat(undefined, { style: "currency", currency: currency });
    } catch (e) {
      fmt = { format: (v) => v.toFixed(2) + " " + currency };
    }
    return (v) => fmt.format(v);
  }

  function datasetsFor(block, metric) {
    return block.datasets.map((ds) => ({
      label: ds.label,
      data: ds[metric],
      backgroundColor: ds.colour,
      borderColor: ds.colour,
      borderWidth: 0,
      stack: "accounts",
      maxBarThickness: 48,
    }));
  }

  function draw() {
    if (typeof window.Chart === "undefined") return;
    const data = readData();
    if (!data) return;
    const labels = data.days.map(dayLabel);
    data.currencies.forEach((block) => {
      const canvas = document.querySelector('canvas[data-dashboard-chart="' + block.currency + '"]');
      if (!canvas) return;
      const old = window.Chart.getChart(canvas);
      if (old) old.destroy();
      const select = document.querySelector('[data-chart-metric="' + block.currency + '"]');
      const metric = chosen[block.currency] || (select && select.value) || "gross";
      if (select) select.value = metric;
      const fmt = formatter(block.currency, metric);
      const chart = new window.Chart(canvas, {
        type: "bar",
        data: { labels: labels, datasets: datasetsFor(block, metric) },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: { duration: 250 },
          interaction: { mode: "index", intersect: false },
          plugins: {
            legend: { display: false }, // the HTML legend below the chart lists the accounts
            tooltip: {
              callbacks: {
                label: (ctx) => " " + ctx.dataset.label + ": " + fmt(ctx.parsed.y),
                footer: (items) => "Total: " + fmt(items.reduce((s, i) => s + i.parsed.y, 0)),
              },
            },
          },
          scales: {
            x: { stacked: true, grid: { display: false }, ticks: { autoSkip: true, maxRotation: 0 } },
            y: { stacked: true, beginAtZero: true, ticks: { callback: (v) => fmt(v) } },
          },
        },
      });
      canvas.dataset.drawn = "true";
      canvas.setAttribute("aria-label", METRICS[metric].title + " in " + block.currency +
        " per day, stacked by account; the same numbers are in the tables below.");
      syncLegend(block.currency, chart);
    });
  }

  function syncLegend(currency, chart) {
    document.querySelectorAll('[data-legend-for="' + currency + '"] [data-legend-index]').forEach((btn) => {
      const index = Number(btn.getAttribute("data-legend-index"));
      const visible = chart.isDatasetVisible(index);
      btn.setAttribute("aria-pressed", visible ? "true" : "false");
      btn.classList.toggle("legend-off", !visible);
    });
  }

  document.addEventListener("change", (ev) => {
    const select = ev.target.closest("[data-chart-metric]");
    if (!select) return;
    chosen[select.getAttribute("data-chart-metric")] = select.value;
    draw();
    // The per-day tables show the chart's metric: once they are loaded, load them again with
    // the switches' new values (the <details> sends them along: hx-include).
    const daily = document.querySelector("details.daily-table");
    if (daily && daily.querySelector("table[data-metric]") && window.htmx) {
      window.htmx.trigger(daily, "dashboard-metric");
    }
  });

  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest("[data-legend-index]");
    if (!btn || typeof window.Chart === "undefined") return;
    const currency = btn.closest("[data-legend-for]").getAttribute("data-legend-for");
    const canvas = document.querySelector('canvas[data-dashboard-chart="' + currency + '"]');
    const chart = canvas && window.Chart.getChart(canvas);
    if (!chart) return;
    const index = Number(btn.getAttribute("data-legend-index"));
    chart.setDatasetVisibility(index, !chart.isDatasetVisible(index));
    chart.update();
    syncLegend(currency, chart);
  });

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
  document.addEventListener("htmx:historyRestore", draw);
  window.PortalDashboard = { draw: draw };
})();
