/* The light viewer: one study's images as WADO-RS /rendered frames (PS3.18 10.4.1.1.3), the window sent
   as `window=center,width,linear` (PS3.18 8.3.5.1.4) and applied by the server. The page's JSON block
   (portal/mobile_viewer/selectors.py) lists each series' instances and frame counts; requests carry the
   session cookie, whether of a member or of a share link's visitor. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("mv-data").textContent);
  var stage = document.getElementById("mv-stage");
  var image = document.getElementById("mv-image");
  var slider = document.getElementById("mv-slider");
  var positionText = document.getElementById("mv-position");
  var windowText = document.getElementById("mv-window");
  var statusText = document.getElementById("mv-status");
  var presetSelect = document.getElementById("mv-preset");
  var thumbButtons = Array.prototype.slice.call(document.querySelectorAll("[data-series-index]"));
  var toolButtons = Array.prototype.slice.call(document.querySelectorAll("[data-tool]"));

  // Common CT windows, center and width in Hounsfield units.
  var PRESETS = { "soft-tissue": [40, 400], lung: [-600, 1500], bone: [300, 1500], brain: [40, 80] };
  var SWIPE_STEP_PX = 18;
  var WHEEL_STEP = 60;
  var MAX_SIDE = 2048;
  var CACHE_SIZE = 24;

  var state = { series: 0, index: 0, window: null, zoom: 1, x: 0, y: 0, tool: "scroll" };
  var frames = data.series.map(function (series) {
    var list = [];
    series.instances.forEach(function (instance) {
      for (var frame = 1; frame <= instance.frames; frame++) list.push({ instance: instance, frame: frame });
    });
    return list;
  });
  var baseWindows = {}; // series index -> Promise of [center, width] (the image's own window)
  var cache = new Map(); // url -> Promise of an object URL, most recent last
  var wanted = "";
  var windowTimer = null;

  function current() {
    return frames[state.series][state.index];
  }

  function seriesUrl(index) {
    return data.studyUrl + "/series/" + encodeURIComponent(data.series[index].uid);
  }

  function renderedUrl(seriesIndex, item, win) {
    var url = seriesUrl(seriesIndex) + "/instances/" + encodeURIComponent(item.instance.uid) +
      "/frames/" + item.frame + "/rendered";
    var params = [];
    if (win) params.push("window=" + Math.round(win[0]) + "," + Math.max(1, Math.round(win[1])) + ",linear");
    var side = Math.min(MAX_SIDE, Math.ceil(Math.max(stage.clientWidth, stage.clientHeight) * (window.devicePixelRatio || 1)));
    if (side > 0 && Math.max(item.instance.rows || 0, item.instance.columns || 0) > Math.max(side, 512)) {
      // Large images (mammography, CR) come scaled to the screen: fewer bytes on a phone's network.
      params.push("viewport=" + side + "," + side);
    }
    return params.length ? url + "?" + params.join("&") : url;
  }

  function fetchImage(url) {
    if (cache.has(url)) {
      var hit = cache.get(url);
      cache.delete(url);
      cache.set(url, hit);
      return hit;
    }
    var promise = fetch(url, { headers: { Accept: "image/jpeg" }, credentials: "same-origin" }).then(function (response) {
      if (!response.ok) {
        var error = new Error("HTTP " + response.status);
        error.status = response.status;
        throw error;
      }
      return response.blob();
    }).then(function (blob) {
      return URL.createObjectURL(blob);
    });
    promise.catch(function () { cache.delete(url); });
    cache.set(url, promise);
    while (cache.size > CACHE_SIZE) {
      var oldest = cache.keys().next().value;
      var evicted = cache.get(oldest);
      cache.delete(oldest);
      evicted.then(function (objectUrl) {
        if (image.src !== objectUrl) URL.revokeObjectURL(objectUrl);
      }, function () {});
    }
    return promise;
  }

  function say(text) {
    statusText.textContent = text;
  }

  function refusal(error) {
    if (error.status === 401 || error.status === 403 || error.status === 404) {
      return "This image is no longer available to you. Your session or the link may have ended.";
    }
    if (error.status === 406) return "This object has no image to show.";
    return "This image could not be loaded. Check the connection and try again.";
  }

  function show() {
    var list = frames[state.series];
    if (!list || !list.length) return;
    var item = current();
    var url = renderedUrl(state.series, item, state.window);
    wanted = url;
    slider.max = String(list.length);
    slider.value = String(state.index + 1);
    slider.setAttribute("aria-valuetext", "Image " + (state.index + 1) + " of " + list.length);
    positionText.textContent = (state.index + 1) + " / " + list.length;
    windowText.textContent = state.window
      ? "W " + Math.round(state.window[1]) + " L " + Math.round(state.window[0])
      : "";
    stage.setAttribute("aria-busy", "true");
    fetchImage(url).then(function (objectUrl) {
      if (wanted !== url) return;
      image.src = objectUrl;
      image.dataset.src = url;
      image.alt = "Series " + (state.series + 1) + ", image " + (state.index + 1) + " of " + list.length;
      stage.removeAttribute("aria-busy");
      say("");
      prefetch();
    }, function (error) {
      if (wanted !== url) return;
      stage.removeAttribute("aria-busy");
      say(refusal(error));
    });
  }

  function prefetch() {
    var list = frames[state.series];
    [1, 2, -1].forEach(function (step) {
      var index = state.index + step;
      if (index >= 0 && index < list.length) {
        fetchImage(renderedUrl(state.series, list[index], state.window)).catch(function () {});
      }
    });
  }

  function go(index) {
    var list = frames[state.series];
    var next = Math.max(0, Math.min(list.length - 1, index));
    if (next !== state.index) {
      state.index = next;
      show();
    }
  }

  function selectSeries(index) {
    if (index === state.series || !frames[index]) return;
    state.series = index;
    state.index = 0;
    state.window = null;
    presetSelect.value = "default";
    thumbButtons.forEach(function (button) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.seriesIndex) === index));
    });
    resetView();
    show();
  }

  // --- Window and level -----------------------------------------------------------------------------------

  function number(element, tag) {
    var value = element && element[tag] && element[tag].Value;
    return value && value.length ? Number(value[0]) : null;
  }

  function voiItem(header, groupsTag) {
    var groups = header[groupsTag] && header[groupsTag].Value;
    var voi = groups && groups[0] && groups[0]["00289132"] && groups[0]["00289132"].Value;
    return voi && voi[0];
  }

  function baseWindow(seriesIndex) {
    // The image's own window from its header (WADO-RS metadata), else the range its bits can hold.
    if (!baseWindows[seriesIndex]) {
      var item = frames[seriesIndex][state.index];
      var url = seriesUrl(seriesIndex) + "/instances/" + encodeURIComponent(item.instance.uid) + "/metadata";
      baseWindows[seriesIndex] = fetch(url, { headers: { Accept: "application/dicom+json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : [{}]; })
        .then(function (body) {
          var header = body[0] || {};
          // Enhanced objects keep it in the Frame VOI LUT macro of their functional groups (PS3.3 C.7.6.16).
          var places = [header, voiItem(header, "52009229"), voiItem(header, "52009230")];
          for (var i = 0; i < places.length; i++) {
            var center = number(places[i], "00281050");
            var width = number(places[i], "00281051");
            if (center !== null && width !== null && width > 0) return [center, width];
          }
          var bits = number(header, "00280101") || 8;
          var signed = number(header, "00280103") === 1;
          var slope = number(header, "00281053") || 1;
          var intercept = number(header, "00281052") || 0;
          var low = signed ? -Math.pow(2, bits - 1) : 0;
          var high = low + Math.pow(2, bits) - 1;
          return [((low + high) / 2) * slope + intercept, (high - low) * slope];
        })
        .catch(function () { return [128, 256]; });
    }
    return baseWindows[seriesIndex];
  }

  function setWindow(win, immediate) {
    state.window = win;
    clearTimeout(windowTimer);
    if (immediate) {
      show();
    } else {
      // While dragging: at most a few renders a second, the last position always drawn.
      windowText.textContent = "W " + Math.round(win[1]) + " L " + Math.round(win[0]);
      windowTimer = setTimeout(show, 120);
    }
  }

  presetSelect.addEventListener("change", function () {
    var value = presetSelect.value;
    if (value === "default") {
      state.window = null;
      show();
    } else if (PRESETS[value]) {
      setWindow(PRESETS[value].slice(), true);
    }
  });

  // --- Zoom and pan ---------------------------------------------------------------------------------------

  function applyTransform() {
    image.style.transform = "translate(-50%, -50%) translate(" + state.x + "px, " + state.y + "px) scale(" + state.zoom + ")";
  }

  function zoomBy(factor, clientX, clientY) {
    var zoom = Math.max(0.5, Math.min(10, state.zoom * factor));
    var rect = stage.getBoundingClientRect();
    // Keep the point under the fingers (or the cursor) where it is.
    var px = (clientX === undefined ? rect.left + rect.width / 2 : clientX) - rect.left - rect.width / 2;
    var py = (clientY === undefined ? rect.top + rect.height / 2 : clientY) - rect.top - rect.height / 2;
    var ratio = zoom / state.zoom;
    state.x = px - (px - state.x) * ratio;
    state.y = py - (py - state.y) * ratio;
    state.zoom = zoom;
    applyTransform();
  }

  function resetView() {
    state.zoom = 1;
    state.x = 0;
    state.y = 0;
    applyTransform();
  }

  document.getElementById("mv-zoom-in").addEventListener("click", function () { zoomBy(1.25); });
  document.getElementById("mv-zoom-out").addEventListener("click", function () { zoomBy(0.8); });
  document.getElementById("mv-reset").addEventListener("click", function () {
    resetView();
    presetSelect.value = "default";
    state.window = null;
    show();
  });

  // --- Pointers: one finger (or the mouse) uses the chosen tool, two fingers pinch and move ----------------

  var pointers = new Map();
  var drag = null;
  var pinch = null;

  function setTool(tool) {
    state.tool = tool;
    stage.dataset.tool = tool;
    toolButtons.forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
    });
  }

  toolButtons.forEach(function (button) {
    button.addEventListener("click", function () { setTool(button.dataset.tool); });
  });

  function pinchState() {
    var points = Array.from(pointers.values());
    var dx = points[1].x - points[0].x;
    var dy = points[1].y - points[0].y;
    return { distance: Math.hypot(dx, dy) || 1, x: (points[0].x + points[1].x) / 2, y: (points[0].y + points[1].y) / 2 };
  }

  stage.addEventListener("pointerdown", function (event) {
    stage.focus({ preventScroll: true });
    stage.setPointerCapture(event.pointerId);
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (pointers.size === 2) {
      drag = null;
      pinch = pinchState();
      return;
    }
    // The right mouse button always changes the window, as in most viewers.
    var tool = event.button === 2 ? "window" : state.tool;
    drag = { tool: tool, x: event.clientX, y: event.clientY, startX: event.clientX, startY: event.clientY, swipe: 0, base: null };
    if (tool === "window") {
      var started = drag;
      var from = state.window;
      (from ? Promise.resolve(from) : baseWindow(state.series)).then(function (win) {
        // The image's own window may arrive after the finger moved, or even lifted: apply the move then.
        started.base = win.slice();
        if (started.moved) windowDrag(started);
      });
    }
  });

  stage.addEventListener("pointermove", function (event) {
    if (!pointers.has(event.pointerId)) return;
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (pinch && pointers.size === 2) {
      var now = pinchState();
      state.x += now.x - pinch.x;
      state.y += now.y - pinch.y;
      zoomBy(now.distance / pinch.distance, now.x, now.y);
      pinch = now;
      return;
    }
    if (!drag) return;
    var dx = event.clientX - drag.x;
    var dy = event.clientY - drag.y;
    if (drag.tool === "pan") {
      state.x += dx;
      state.y += dy;
      drag.x = event.clientX;
      drag.y = event.clientY;
      applyTransform();
    } else if (drag.tool === "scroll") {
      // Up or left goes forward, as when scrolling a page or swiping a gallery.
      drag.swipe += Math.abs(dx) > Math.abs(dy) ? -dx : -dy;
      drag.x = event.clientX;
      drag.y = event.clientY;
      var steps = Math.trunc(drag.swipe / SWIPE_STEP_PX);
      if (steps) {
        drag.swipe -= steps * SWIPE_STEP_PX;
        go(state.index + steps);
      }
    } else if (drag.tool === "window") {
      drag.moved = { x: event.clientX - drag.startX, y: event.clientY - drag.startY };
      windowDrag(drag);
    }
  });

  function windowDrag(started) {
    if (!started.base || !started.moved) return;
    // Right widens the window (less contrast), down raises the level (darker), in proportion to the
    // image's own width and the stage's size, so that a phone and a desktop feel the same.
    var scale = started.base[1] / Math.max(200, stage.clientWidth / 2);
    setWindow([started.base[0] + started.moved.y * scale, Math.max(1, started.base[1] + started.moved.x * scale)], false);
    presetSelect.value = "custom";
  }

  function release(event) {
    pointers.delete(event.pointerId);
    if (pointers.size < 2) pinch = null;
    if (pointers.size === 0) drag = null;
  }
  stage.addEventListener("pointerup", release);
  stage.addEventListener("pointercancel", release);
  stage.addEventListener("contextmenu", function (event) { event.preventDefault(); });

  var wheelSum = 0;
  stage.addEventListener("wheel", function (event) {
    event.preventDefault();
    var delta = event.deltaMode === 1 ? event.deltaY * 20 : event.deltaY;
    if (event.ctrlKey) {
      // A trackpad's pinch arrives as a wheel event with Ctrl held.
      zoomBy(Math.exp(-delta / 200), event.clientX, event.clientY);
      return;
    }
    if (Math.abs(delta) >= WHEEL_STEP / 2) {
      // A mouse wheel's notch: one image.
      wheelSum = 0;
      go(state.index + Math.sign(delta));
      return;
    }
    // A trackpad's small deltas add up.
    wheelSum += delta;
    var steps = Math.trunc(wheelSum / WHEEL_STEP);
    if (steps) {
      wheelSum -= steps * WHEEL_STEP;
      go(state.index + steps);
    }
  }, { passive: false });

  // --- Keyboard, slider, buttons --------------------------------------------------------------------------

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target.tagName === "INPUT" || target.tagName === "SELECT" || event.altKey || event.metaKey || event.ctrlKey) return;
    var list = frames[state.series];
    if (!list) return;
    var handled = true;
    switch (event.key) {
      case "ArrowDown": case "ArrowRight": case "j": go(state.index + 1); break;
      case "ArrowUp": case "ArrowLeft": case "k": go(state.index - 1); break;
      case "PageDown": go(state.index + 10); break;
      case "PageUp": go(state.index - 10); break;
      case "Home": go(0); break;
      case "End": go(list.length - 1); break;
      case "+": case "=": zoomBy(1.25); break;
      case "-": zoomBy(0.8); break;
      case "0": resetView(); break;
      default: handled = false;
    }
    if (handled && (target === stage || target === document.body)) event.preventDefault();
  });

  slider.addEventListener("input", function () { go(Number(slider.value) - 1); });
  document.getElementById("mv-prev").addEventListener("click", function () { go(state.index - 1); });
  document.getElementById("mv-next").addEventListener("click", function () { go(state.index + 1); });

  thumbButtons.forEach(function (button) {
    button.addEventListener("click", function () { selectSeries(Number(button.dataset.seriesIndex)); });
    var thumb = button.querySelector("img");
    thumb.addEventListener("error", function () { thumb.style.visibility = "hidden"; });
  });

  setTool("scroll");
  if (frames.length && frames[0].length) show();
})();
