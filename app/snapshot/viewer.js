// The offline snapshot's viewer: reads the run stored in this file (#attnscope-data) and
// draws the grid of heads, the selected head's heatmap, its table and its lines. Plain
// JavaScript: no model, no network, nothing fetched.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("attnscope-data").textContent);
  // Each site's maps as stored: float32, or quantized to 16 or 8 bits over [0, 1].
  const decode = (site) => {
    const bytes = Uint8Array.from(atob(site.maps), (c) => c.charCodeAt(0));
    return data.encoding === "f32" ? new Float32Array(bytes.buffer)
      : data.encoding === "u16" ? Float32Array.from(new Uint16Array(bytes.buffer), (v) => v / 65535)
      : Float32Array.from(bytes, (v) => v / 255);
  };
  const sites = data.sites.map((site) => ({ ...site, values: decode(site) }));
  let site = sites[0];
  let [layers, heads, rows, columns] = site.shape;
  const headMap = (l, h) => site.values.subarray((l * heads + h) * rows * columns, (l * heads + h + 1) * rows * columns);
  const colour = (w) => data.palette[Math.max(0, Math.min(255, Math.round(w * 255)))];
  const el = (tag, attrs, ...children) => {
    const e = document.createElementNS(tag === "svg" || tag === "line" || tag === "text" ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) e.append(c);
    return e;
  };
  let selected = [0, 0];
  let tab = "heatmap";

  function paint(canvas, map, w, h) {
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d"), image = ctx.createImageData(w, h);
    map.forEach((v, i) => {
      const c = colour(v);
      image.data.set([parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16), 255], i * 4);
    });
    ctx.putImageData(image, 0, 0);
  }

  function grid() {
    const g = document.getElementById("grid");
    g.replaceChildren();
    g.style.gridTemplateColumns = `auto repeat(${heads}, auto)`;
    g.append(el("span"), ...Array.from({ length: heads }, (_, h) => el("span", {}, `H${h}`)));
    for (let l = 0; l < layers; l++) {
      g.append(el("span", {}, `L${l}`));
      for (let h = 0; h < heads; h++) {
        const c = el("canvas", { "data-testid": "snapshot-thumb", "data-layer": l, "data-head": h, title: `Layer ${l}, head ${h}` });
        paint(c, headMap(l, h), columns, rows);
        c.onclick = () => { selected = [l, h]; show(); };
        g.append(c);
      }
    }
    g.tabIndex = 0;
    g.onkeydown = (e) => {
      const [l, h] = selected;
      const moves = { ArrowRight: [l, Math.min(heads - 1, h + 1)], ArrowLeft: [l, Math.max(0, h - 1)], ArrowDown: [Math.min(layers - 1, l + 1), h], ArrowUp: [Math.max(0, l - 1), h] };
      if (moves[e.key]) { selected = moves[e.key]; e.preventDefault(); show(); }
    };
  }

  function heatmap(map) {
    const canvas = document.getElementById("heatmap");
    const labels = 110, side = 450, cell = side / Math.max(rows, columns);
    canvas.width = labels + side + 10; canvas.height = 10 + side + labels;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    for (let q = 0; q < rows; q++) for (let k = 0; k < columns; k++) {
      ctx.fillStyle = colour(map[q * columns + k]);
      ctx.fillRect(Math.round(labels + k * cell), Math.round(10 + q * cell), Math.ceil(cell), Math.ceil(cell));
    }
    const font = Math.max(9, Math.min(13, cell * 0.8)), every = Math.max(1, Math.ceil((font + 2) / cell));
    ctx.fillStyle = "#000"; ctx.font = `${font}px sans-serif`; ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    site.rows.forEach((t, i) => { if (i % every === 0) ctx.fillText(t, labels - 6, 10 + (i + 0.5) * cell); });
    site.columns.forEach((t, i) => {
      if (i % every) return;
      ctx.save(); ctx.translate(labels + (i + 0.5) * cell, 10 + rows * cell + 6); ctx.rotate(-Math.PI / 2); ctx.fillText(t, 0, 0); ctx.restore();
    });
  }

  function table(map) {
    const t = document.getElementById("table");
    t.replaceChildren(
      el("thead", {}, el("tr", {}, el("th", {}, "query \\ key"), ...site.columns.map((c) => el("th", { scope: "col" }, c)))),
      el("tbody", {}, ...site.rows.map((r, q) => el("tr", {}, el("th", { scope: "row" }, r),
        ...Array.from({ length: columns }, (_, k) => el("td", {}, map[q * columns + k].toFixed(4)))))));
  }

  function lines(map) {
    const n = Math.max(rows, columns, 1), row = Math.min(36, Math.max(6, 560 / n)), y = (i) => 5 + row * (i + 0.5);
    const svg = el("svg", { width: 460, height: row * n + 10, style: `font-size: ${Math.min(15, Math.max(6, row * 0.75))}px` });
    for (let q = 0; q < rows; q++) for (let k = 0; k < columns; k++) {
      const w = map[q * columns + k];
      if (w >= 0.005) svg.append(el("line", { x1: 136, y1: y(q), x2: 324, y2: y(k), "stroke-opacity": w.toFixed(4) }));
    }
    site.rows.forEach((t, i) => svg.append(el("text", { x: 130, y: y(i), "text-anchor": "end", "dominant-baseline": "middle" }, t)));
    site.columns.forEach((t, i) => svg.append(el("text", { x: 330, y: y(i), "dominant-baseline": "middle" }, t)));
    document.getElementById("lines").replaceChildren(svg);
  }

  function show() {
    const [l, h] = selected, map = headMap(l, h);
    document.querySelectorAll("#grid canvas").forEach((c) => c.classList.toggle("selected", +c.dataset.layer === l && +c.dataset.head === h));
    document.getElementById("head").textContent = `Layer ${l}, head ${h}`;
    for (const name of ["heatmap", "table", "lines"]) {
      document.getElementById(`${name}-panel`).hidden = tab !== name;
      document.getElementById(`tab-${name}`).setAttribute("aria-selected", String(tab === name));
    }
    if (tab === "heatmap") heatmap(map);
    if (tab === "table") table(map);
    if (tab === "lines") lines(map);
  }

  document.getElementById("title").textContent = `attnscope · ${data.model}`;
  document.getElementById("facts").textContent = data.facts;
  document.getElementById("text").textContent = data.text;
  document.getElementById("tokens").append(...data.tokens.map((t) => el("span", {}, t)));
  for (const name of ["heatmap", "table", "lines"]) document.getElementById(`tab-${name}`).onclick = () => { tab = name; show(); };
  // A translation has several sites (encoder, cross): a picker chooses which the views show.
  const picker = document.getElementById("site");
  picker.append(...sites.map((s, i) => el("option", { value: i }, s.name)));
  document.getElementById("site-picker").hidden = sites.length < 2;
  picker.onchange = () => {
    site = sites[+picker.value];
    [layers, heads, rows, columns] = site.shape;
    selected = [0, 0];
    grid();
    show();
  };
  grid();
  show();
})();
