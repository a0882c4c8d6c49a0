/* A small slippy map for the public board (web/board.py), instead of a map library: Web Mercator
   tiles from the template in #map's data-tiles ({z}/{x}/{y}), one pin per ticket from the articles'
   data-lat/data-lon, coloured by data-state; drag to pan, buttons to zoom. No other requests. */
(function () {
  "use strict";
  var box = document.getElementById("map");
  if (!box) { return; }
  var TILE = 256, template = box.getAttribute("data-tiles");
  var pins = Array.prototype.slice.call(document.querySelectorAll("article[data-lat]")).map(function (a) {
    return { lat: parseFloat(a.getAttribute("data-lat")), lon: parseFloat(a.getAttribute("data-lon")),
             state: a.getAttribute("data-state"), id: a.id, title: a.getAttribute("data-title") };
  });
  function project(lat, lon, z) {  /* world pixels at zoom z */
    var size = TILE * Math.pow(2, z), s = Math.sin(lat * Math.PI / 180);
    return { x: (lon + 180) / 360 * size, y: (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * size };
  }
  var width = box.clientWidth, height = box.clientHeight, zoom = 16, centre;
  function fit() {  /* the largest zoom that shows every pin */
    if (!pins.length) { zoom = 3; centre = project(35, 105, zoom); return; }
    for (zoom = 17; zoom > 1; zoom -= 1) {
      var points = pins.map(function (p) { return project(p.lat, p.lon, zoom); });
      var xs = points.map(function (p) { return p.x; }), ys = points.map(function (p) { return p.y; });
      var minX = Math.min.apply(null, xs), maxX = Math.max.apply(null, xs);
      var minY = Math.min.apply(null, ys), maxY = Math.max.apply(null, ys);
      if (maxX - minX < width - 60 && maxY - minY < height - 60) { break; }
    }
    centre = { x: (minX + maxX) / 2, y: (minY + maxY) / 2 };
  }
  var layer = document.createElement("div");
  box.appendChild(layer);
  function draw() {
    layer.textContent = "";
    var left = centre.x - width / 2, top = centre.y - height / 2, count = Math.pow(2, zoom);
    for (var tx = Math.floor(left / TILE); tx <= Math.floor((left + width) / TILE); tx += 1) {
      for (var ty = Math.floor(top / TILE); ty <= Math.floor((top + height) / TILE); ty += 1) {
        if (ty < 0 || ty >= count) { continue; }
        var img = document.createElement("img");
        img.className = "tile";
        img.alt = "";
        img.draggable = false;
        img.src = template.replace("{z}", zoom).replace("{x}", ((tx % count) + count) % count).replace("{y}", ty);
        img.style.left = (tx * TILE - left) + "px";
        img.style.top = (ty * TILE - top) + "px";
        layer.appendChild(img);
      }
    }
    pins.forEach(function (p) {
      var at = project(p.lat, p.lon, zoom), pin = document.createElement("a");
      pin.className = "pin dot " + p.state;
      pin.href = "#" + p.id;
      pin.title = p.title;
      pin.setAttribute("data-ticket", p.id);
      pin.style.left = (at.x - left) + "px";
      pin.style.top = (at.y - top) + "px";
      layer.appendChild(pin);
    });
  }
  function zoomBy(step) {
    var next = Math.max(1, Math.min(18, zoom + step)), factor = Math.pow(2, next - zoom);
    centre = { x: centre.x * factor, y: centre.y * factor };
    zoom = next;
    draw();
  }
  var controls = document.createElement("div");
  controls.className = "zoom";
  [["+", 1, "data-zoom-in"], ["\u2212", -1, "data-zoom-out"]].forEach(function (b) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = b[0];
    button.title = box.getAttribute(b[2]);
    button.addEventListener("click", function () { zoomBy(b[1]); });
    controls.appendChild(button);
  });
  box.appendChild(controls);
  var dragging = null;
  box.addEventListener("pointerdown", function (e) {
    if (e.target.tagName === "BUTTON" || e.target.tagName === "A") { return; }
    dragging = { x: e.clientX, y: e.clientY };
    box.setPointerCapture(e.pointerId);
  });
  box.addEventListener("pointermove", function (e) {
    if (!dragging) { return; }
    centre = { x: centre.x - (e.clientX - dragging.x), y: centre.y - (e.clientY - dragging.y) };
    dragging = { x: e.clientX, y: e.clientY };
    draw();
  });
  box.addEventListener("pointerup", function () { dragging = null; });
  fit();
  draw();
}());
