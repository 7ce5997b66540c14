// Draws the plots of report.html with uPlot (inlined before this script).
// The data is the JSON in <script id="aifb-data">: {plots: [{id, title,
// xAxis: "percentile"|"seconds"|"load", xLabel, yLabel, series, x, y}]}.
// Each plot's <div> gets the attribute data-rendered once drawn; a failure is
// logged to the console and shown in place of the plot.
(function () {
  "use strict";
  var palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                 "#8c564b", "#e377c2", "#17becf"];
  var data = JSON.parse(document.getElementById("aifb-data").textContent);

  // x = log10(1 / (1 - q)), the "nines": 0 is the minimum, 0.301 the
  // median, 2 the 99th percentile.
  function percentile(x, extra) {
    var p = 100 * (1 - Math.pow(10, -x));
    var digits = Math.max(0, Math.round(x) - 2 + extra);
    return p.toFixed(digits) + "%";
  }
  function percentileSplits(u, axis, min, max) {
    var out = [0];
    if (max >= Math.LOG10E * Math.LN2) out.push(Math.log10(2));
    for (var x = 1; x <= max + 1e-9; x += 1) out.push(x);
    return out;
  }
  function number(v) {
    if (v == null) return "-";
    return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
  }

  function draw(p, el) {
    var pct = p.xAxis === "percentile";
    var series = [{
      label: p.xLabel,
      value: function (u, v) { return v == null ? "-" : pct ? percentile(v, 2) : number(v); }
    }];
    p.series.forEach(function (name, i) {
      series.push({
        label: name,
        stroke: palette[i % palette.length],
        width: 1.5,
        value: function (u, v) { return number(v); },
        points: { show: p.xAxis === "load" || p.x.length < 3 }
      });
    });
    var xAxis = { label: p.xLabel };
    if (pct) {
      xAxis.splits = percentileSplits;
      xAxis.values = function (u, splits) {
        return splits.map(function (x) { return percentile(x, 0); });
      };
    }
    var width = Math.max(320, Math.min(640, el.clientWidth || 600));
    var opts = {
      title: p.title,
      width: width,
      height: 300,
      series: series,
      scales: { x: { time: false } },
      axes: [xAxis, { label: p.yLabel, size: 60 }]
    };
    new uPlot(opts, [p.x].concat(p.y), el);
    el.setAttribute("data-rendered", "true");
  }

  data.plots.forEach(function (p) {
    var el = document.getElementById(p.id);
    if (!el) {
      console.error("aifbench report: no element for plot " + p.id);
      return;
    }
    try {
      draw(p, el);
    } catch (e) {
      console.error("aifbench report: plot " + p.id + " failed: " + e);
      el.textContent = "This plot could not be drawn: " + e;
    }
  });
})();
