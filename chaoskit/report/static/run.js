// Draws the run's timeline from the spec inlined in the page (vega-embed, inlined
// too): every view as wide as the page allows, on a canvas, tooltips on, no links
// out. When it is drawn, the body says so (data-timeline="ready") with the time it
// took since the page started loading (data-drawn-ms), for the tests and bench/.
(function () {
  "use strict";
  var box = document.getElementById("timeline");
  var spec = JSON.parse(document.getElementById("timeline-spec").textContent);
  var width = Math.max(480, box.clientWidth - 300);  // room for the lanes' labels
  spec.vconcat.forEach(function (view) { view.width = width; });
  vegaEmbed(box, spec, { actions: false, renderer: "canvas", tooltip: { theme: "light" } })
    .then(function (result) {
      window.chaoskitTimeline = result.view;
      document.body.dataset.drawnMs = String(Math.round(performance.now()));
      document.body.dataset.timeline = "ready";
    })
    .catch(function (error) {
      box.textContent = "The timeline could not be drawn: " + error;
      document.body.dataset.timeline = "failed";
      console.error(error);
    });
})();
