// Reports tab: draws the report's chart from the JSON in its canvas's data-chart attribute (also
// after htmx swaps and history restores), and marks the period "Custom dates" when a date is typed.
(function () {
  "use strict";

  let chart = null;

  function readData(canvas) {
    if (!canvas || !canvas.dataset.chart) return null;
    try { return JSON.parse(canvas.dataset.chart); } catch (e) { return null; }
  }

  function draw() {
    const canvas = document.getElementById("report-chart");
    const data = readData(canvas);
    if (chart) { chart.destroy(); chart = null; }
    if (!canvas || !data || typeof window.Chart === "undefined") return;
    const manyBars = data.labels.length > 45;
    const scales = {
      x: { stacked: data.stacked, grid: { display: false },
           ticks: { autoSkip: true, maxRotation: 0, autoSkipPadding: 8 } },
      y: { stacked: data.stacked, beginAtZero: true, title: { display: !!data.yTitle, text: data.yTitle },
           ticks: { precision: 0 } },
    };
    if (data.y2Title) {
      scales.y2 = { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                    title: { display: true, text: data.y2Title } };
    }
    chart = new window.Chart(canvas, {
      type: data.kind || "bar",
      data: {
        labels: data.labels,
        datasets: data.datasets.map((d) => Object.assign(
          { borderWidth: d.type === "line" ? 2 : 0, borderRadius: manyBars ? 0 : 2, maxBarThickness: 42 }, d)),
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12, boxHeight: 12 } },
          tooltip: {
            callbacks: {
              footer: (items) => {
                if (!data.stacked || items.length < 2) return "";
                const sum = items.reduce((acc, it) => acc + (it.parsed.y || 0), 0);
                return "Total: " + sum.toLocaleString();
              },
            },
          },
        },
        scales: scales,
      },
    });
  }

  // Typing a date means a custom period (the select says so before htmx sends the form).
  document.addEventListener("change", (ev) => {
    const input = ev.target;
    if (!(input instanceof HTMLInputElement) || !input.hasAttribute("data-period-date")) return;
    const select = input.form && input.form.querySelector("select[name=period]");
    if (select) select.value = "custom";
  }, true);

  document.addEventListener("DOMContentLoaded", draw);
  // New content from htmx (the report block is swapped outerHTML, so listen for its load).
  document.addEventListener("htmx:load", (ev) => {
    const el = ev.target;
    if (el && el.querySelector && (el.id === "report-body" || el.querySelector("#report-chart"))) draw();
  });
  document.addEventListener("htmx:historyRestore", draw);
  window.PortalReports = { draw: draw, chart: () => chart };
})();
