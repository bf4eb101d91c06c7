// Draws the run's timeline from the spec inlined in the page (vega-embed, inlined
// too): every view as wide as the page allows, tooltips on, no links out.
(function () {
  "use strict";
  var box = document.getElementById("timeline");
  var spec = JSON.parse(document.getElementById("timeline-spec").textContent);
  var width = Math.max(480, box.clientWidth - 280);
  spec.vconcat.forEach(function (view) { view.width = width; });
  vegaEmbed(box, spec, { actions: false, renderer: "svg", tooltip: { theme: "light" } })
    .then(function (result) {
      window.chaoskitTimeline = result.view;
      document.body.dataset.timeline = "ready";
    })
    .catch(function (error) {
      box.textContent = "The timeline could not be drawn: " + error;
      document.body.dataset.timeline = "failed";
      console.error(error);
    });
})();
