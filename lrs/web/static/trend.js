// The trend chart of the schools and communes page (uPlot, shipped with the package).
// The table under it carries the same figures for screen readers and without JavaScript.
(function () {
  var node = document.getElementById("trend-data");
  var box = document.getElementById("trend-chart");
  if (!node || !box || typeof uPlot === "undefined") return;
  var data = JSON.parse(node.textContent);
  var xs = data.dates.map(function (d) { return Date.parse(d) / 1000; });
  var shares = data.shares.map(function (s) { return s === null ? null : s * 100; });
  var target = data.dates.map(function () { return data.target === null ? null : data.target * 100; });
  var width = Math.min(720, box.clientWidth || 320);
  new uPlot({
    width: width, height: 240,
    scales: { y: { range: [0, 100] } },
    series: [
      {},
      { label: "%", stroke: "#0072B2", width: 2, points: { show: true } },
      { label: "target", stroke: "#D55E00", width: 2, dash: [6, 4] }
    ],
    axes: [{}, { values: function (u, v) { return v.map(function (x) { return x + " %"; }); } }]
  }, [xs, shares, target], box);
})();
