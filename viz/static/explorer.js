/* tinygrad_bn graph explorer: lays a captured graph out with Graphviz (WebAssembly) in the page and
 * lets you zoom, pan, collapse scopes, inspect nodes, follow noise paths and step through training.
 * Data comes from viz/explore.py (see its docstring for the format); no request leaves the page. */
"use strict";
window.TinygradExplorer = (() => {
  let graphvizReady = null;

  /* Graphviz is vendored as an ES module inside <script type="text/plain" id="tgbn-graphviz">. */
  function graphviz() {
    if (!graphvizReady) {
      const src = document.getElementById("tgbn-graphviz").textContent;
      const url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
      graphvizReady = import(url).then((m) => m.Graphviz.load());
    }
    return graphvizReady;
  }

  /* Numbers as Python's "{:.3g}" writes them (0.0123, 1.23e-07 is written 1.23e-7); "nan", "inf" as given. */
  const fmt = (x) => (x === null || x === undefined ? "—" : typeof x === "string" ? x : String(Number(x.toPrecision(3))));
  const quote = (rows) => '"' + rows.map((r) => String(r).replace(/\\/g, "\\\\").replace(/"/g, '\\"')).join("\\n") + '"';
  const h = (tag, attrs = {}, ...kids) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v);
    }
    el.append(...kids.flat());
    return el;
  };

  class Explorer {
    constructor(root, data) {
      this.root = root;
      this.data = data;
      this.step = 0;
      this.collapsed = new Set();
      this.highlight = new Set();
      this.noiseOn = true;
      this.heatOn = true;
      this.pinned = null;
      this.cache = new Map();
      this.matches = [];
      this.chains = {}; // node id -> its scope ids, outermost first
      for (const [id, n] of Object.entries(data.nodes)) {
        const chain = [];
        for (let s = n.scope; s; s = data.scopes[s].parent) chain.unshift(s);
        this.chains[id] = chain;
      }
      this.build();
      const depth = data.options.depth ?? this.autoDepth();
      if (depth !== null) this.collapseTo(depth);
      this.layout().then(() => {
        const focus = data.options.focus;
        if (focus) this.fitTo(this.svg.querySelector(`#c-${focus}, #n-${focus}`));
      });
    }

    /* ----- page skeleton ----- */
    build() {
      const d = this.data;
      this.pane = h("div", { class: "pane", tabindex: "0" });
      this.panel = h("div", { class: "panel" }, h("p", { class: "hint" }, "Hover or click a node."));
      this.status = h("span", { class: "status" });
      this.depthInput = h("input", { type: "number", min: "0", value: "0", title: "depth", class: "depth" });
      const toggle = (label, key) => h("label", {}, h("input", { type: "checkbox", checked: "", class: key,
        onchange: (e) => { this[key] = e.target.checked; this.paint(); } }), label);
      this.search = h("input", { type: "search", placeholder: "find name, op or module", class: "search",
        onkeydown: (e) => { if (e.key === "Enter") this.find(e.target.value); } });
      const bar = h("div", { class: "bar" },
        h("button", { class: "refit", onclick: () => this.fit() }, "refit"),
        h("button", { class: "expand", onclick: () => { this.collapsed.clear(); this.layout(); } }, "expand all"),
        h("button", { class: "collapse", onclick: () => { this.collapseTo(+this.depthInput.value); this.layout(); } },
          "collapse to depth"), this.depthInput,
        toggle("noise colours", "noiseOn"), toggle("gradient heat", "heatOn"), this.search, this.status);
      if (d.steps.length > 1) {
        this.stepLabel = h("span", { class: "step-label" }, d.steps[0].label);
        this.slider = h("input", { type: "range", min: "0", max: String(d.steps.length - 1), value: "0",
          class: "timeline", oninput: (e) => this.setStep(+e.target.value) });
        bar.append(h("label", { class: "steps" }, "step ", this.slider, this.stepLabel));
      }
      const entries = h("ol", { class: "entries" }, d.entries.map((e, k) => h("li", {},
        h("button", { "data-entry": String(k), class: "entry", style: `border-left-color:${d.colours[e.colour][0]}`,
          onclick: () => this.toggleEntry(k) },
          `${e.kind} at ${e.op}${e.module ? " in " + e.module : ""} ← ${e.source_kind} (${e.source_desc})`))));
      const legend = h("div", { class: "legend" },
        Object.entries(d.colours).map(([key, [line, fill, words]]) =>
          h("div", {}, h("span", { class: "swatch", style: `border-color:${line};background:${fill}` }), words)),
        d.heat ? h("div", {}, h("span", { class: "swatch", style: `background:${d.heat[1]}` }), d.heat[0]) : []);
      const side = h("div", { class: "side" }, this.panel,
        h("h4", {}, `noise entries (${d.entries.length})`),
        d.entries.length ? entries : h("p", { class: "hint" }, "No batch noise enters this graph."), legend);
      this.root.append(bar, h("div", { class: "main" }, this.pane, side));
      this.listen();
    }

    /* ----- which nodes are drawn ----- */
    rep(id) {
      const s = this.chains[id].find((c) => this.collapsed.has(c));
      return s === undefined ? id : s;
    }

    visible() {
      return new Set(Object.keys(this.data.nodes).map((id) => this.rep(id)));
    }

    collapseTo(depth) {
      this.collapsed = new Set(Object.keys(this.data.scopes).filter((s) => this.data.scopes[s].depth === depth));
    }

    autoDepth() {
      const d = this.data;
      if (d.options.max_nodes === null || Object.keys(d.nodes).length <= d.options.max_nodes) return null;
      const deepest = Math.max(0, ...Object.values(d.scopes).map((s) => s.depth));
      for (let depth = deepest; depth > 0; depth--) {
        this.collapseTo(depth);
        if (this.visible().size <= d.options.max_nodes) return depth;
      }
      return 0;
    }

    members(sid) {
      return Object.keys(this.data.nodes).filter((id) => this.chains[id].includes(sid));
    }

    /* ----- DOT for the current collapse state ----- */
    dot() {
      const d = this.data;
      const placed = new Map(); // scope id or "" -> drawn keys directly inside it
      const put = (scope, key) => { if (!placed.has(scope)) placed.set(scope, []); placed.get(scope).push(key); };
      for (const key of this.visible()) {
        put(key in d.scopes ? d.scopes[key].parent || "" : d.nodes[key].scope || "", key);
      }
      const out = ['digraph G {', 'graph [rankdir=TB, fontname=Helvetica, fontsize=11, newrank=true];',
        'node [fontname=Helvetica, fontsize=10];', 'edge [color="#555555", arrowsize=0.6];'];
      const emit = (scope, indent) => {
        for (const key of placed.get(scope) || []) out.push(indent + this.nodeDot(key));
        for (const [sid, s] of Object.entries(d.scopes)) {
          if ((s.parent || "") !== scope || this.collapsed.has(sid) || !this.hasContent(sid, placed)) continue;
          out.push(`${indent}subgraph "cluster_${sid}" { id="c-${sid}"; class="scope"; label=${quote([s.title])}; ` +
            'style="rounded,dashed"; color="#999999";');
          emit(sid, indent + "  ");
          out.push(indent + "}");
        }
      };
      emit("", "");
      const drawn = new Set();
      for (const [u, v] of d.edges) {
        const a = this.rep(u), b = this.rep(v);
        if (a !== b && !drawn.has(a + " " + b)) {
          drawn.add(a + " " + b);
          out.push(`"${a}" -> "${b}" [id="e-${a}-${b}"];`);
        }
      }
      out.push("}");
      return out.join("\n");
    }

    hasContent(sid, placed) {
      if ((placed.get(sid) || []).length) return true;
      return Object.entries(this.data.scopes).some(([c, s]) => s.parent === sid && !this.collapsed.has(c) &&
        this.hasContent(c, placed));
    }

    nodeDot(key) {
      const d = this.data;
      if (key in d.scopes) {
        const m = this.members(key);
        const ops = m.filter((id) => d.nodes[id].kind === "op").length;
        const rows = [d.scopes[key].title, `collapsed: ${ops} ops, ${m.length - ops} tensors`];
        return `"${key}" [id="n-${key}", class="group", shape=box3d, style=filled, fillcolor="#f7f7f7", ` +
          `label=${quote(rows)}];`;
      }
      const n = d.nodes[key];
      if (n.kind === "op") {
        return `"${key}" [id="n-${key}", class="op", shape=ellipse, style=filled, margin="0.05,0.02", ` +
          `label=${quote(n.rows)}];`;
      }
      const widest = (row) => d.steps.map((s) => this.valueRows(s, key)[row]).reduce((a, b) => (b.length > a.length ? b : a));
      const rows = [...n.rows, ...(d.steps[0].values[key].length ? [widest(0), widest(1)] : [])];
      return `"${key}" [id="n-${key}", class="tensor", shape=box, style="rounded,filled", label=${quote(rows)}];`;
    }

    /* The two label rows that change between steps: value statistics and gradient. */
    valueRows(step, id) {
      const [mean, std, lo, hi, gn, gm] = step.values[id];
      return [mean === null ? "no values" : `mean ${fmt(mean)}  std ${fmt(std)}  [${fmt(lo)}, ${fmt(hi)}]`,
        gn === null ? "no grad kept" : `grad norm ${fmt(gn)}  mean |g| ${fmt(gm)}`];
    }

    /* ----- layout (Graphviz in WebAssembly), cached per collapse state ----- */
    async layout() {
      this.root.dataset.ready = "0";
      const key = [...this.collapsed].sort().join(",");
      try {
        if (!this.cache.has(key)) this.cache.set(key, (await graphviz()).dot(this.dot()));
      } catch (err) {
        this.pane.textContent = "layout failed: " + err;
        throw err;
      }
      const svg = new DOMParser().parseFromString(this.cache.get(key), "image/svg+xml").documentElement;
      svg.removeAttribute("width");
      svg.removeAttribute("height");
      this.pane.replaceChildren(svg);
      this.svg = svg;
      this.base = svg.getAttribute("viewBox").split(" ").map(Number);
      this.nodes = new Map([...svg.querySelectorAll("g.node")].map((g) => [g.id.slice(2), g]));
      this.setTexts();
      this.paint();
      this.fit();
      this.status.textContent = `${this.nodes.size} of ${Object.keys(this.data.nodes).length} nodes shown`;
      this.root.dataset.ready = "1";
    }

    /* ----- view: fit, zoom, pan (the SVG viewBox) ----- */
    setView(x, y, w, hgt) {
      this.view = [x, y, w, hgt];
      this.svg.setAttribute("viewBox", this.view.join(" "));
    }

    fit() {
      this.setView(...this.base);
    }

    toSvg(cx, cy) {
      const p = new DOMPoint(cx, cy).matrixTransform(this.svg.getScreenCTM().inverse());
      return [p.x, p.y];
    }

    boxOf(el) {
      const r = el.getBoundingClientRect();
      const [x0, y0] = this.toSvg(r.left, r.top), [x1, y1] = this.toSvg(r.right, r.bottom);
      return [x0, y0, x1 - x0, y1 - y0];
    }

    fitTo(el, margin = 1.15) {
      if (el) this.fitToBoxes([el], margin);
    }

    fitToBoxes(els, margin = 1.15) {
      if (!els.length) return;
      const boxes = els.map((el) => this.boxOf(el));
      const x = Math.min(...boxes.map((b) => b[0])), y = Math.min(...boxes.map((b) => b[1]));
      const w = Math.max(...boxes.map((b) => b[0] + b[2])) - x, hgt = Math.max(...boxes.map((b) => b[1] + b[3])) - y;
      this.setView(x - (w * (margin - 1)) / 2, y - (hgt * (margin - 1)) / 2, w * margin, hgt * margin);
    }

    centreOn(el) {
      const [x, y, w, hgt] = this.boxOf(el);
      const r = this.pane.getBoundingClientRect();
      const vw = Math.min(this.base[2], Math.max(w * 5, this.view[2] * 0.5));
      const vh = (vw * r.height) / r.width;
      this.setView(x + w / 2 - vw / 2, y + hgt / 2 - vh / 2, vw, vh);
    }

    zoomAt(cx, cy, factor) {
      const [px, py] = this.toSvg(cx, cy);
      const [x, y, w, hgt] = this.view;
      this.setView(px - (px - x) / factor, py - (py - y) / factor, w / factor, hgt / factor);
    }

    listen() {
      const pane = this.pane, pointers = new Map();
      let moved = 0, pinch = 0;
      pane.addEventListener("wheel", (e) => {
        e.preventDefault();
        this.zoomAt(e.clientX, e.clientY, Math.exp(-e.deltaY * (e.ctrlKey ? 0.01 : 0.002)));
      }, { passive: false });
      pane.addEventListener("pointerdown", (e) => {
        pointers.set(e.pointerId, [e.clientX, e.clientY]);
        moved = 0;
      });
      pane.addEventListener("pointermove", (e) => {
        const last = pointers.get(e.pointerId);
        if (!last || !this.svg) return;
        pointers.set(e.pointerId, [e.clientX, e.clientY]);
        if (pointers.size === 2) { // pinch: zoom by the change of distance between two fingers
          const [[ax, ay], [bx, by]] = [...pointers.values()];
          const dist = Math.hypot(ax - bx, ay - by);
          if (pinch) this.zoomAt((ax + bx) / 2, (ay + by) / 2, dist / pinch);
          pinch = dist;
          return;
        }
        const [x0, y0] = this.toSvg(...last), [x1, y1] = this.toSvg(e.clientX, e.clientY);
        moved += Math.abs(e.clientX - last[0]) + Math.abs(e.clientY - last[1]);
        if (moved > 3) {
          pane.setPointerCapture(e.pointerId);
          const [x, y, w, hgt] = this.view;
          this.setView(x - (x1 - x0), y - (y1 - y0), w, hgt);
        }
      });
      const up = (e) => { pointers.delete(e.pointerId); pinch = 0; };
      pane.addEventListener("pointerup", up);
      pane.addEventListener("pointercancel", up);
      pane.addEventListener("click", (e) => {
        if (moved > 3) return;
        const node = e.target.closest("g.node"), scope = e.target.closest("g.cluster");
        if (node) this.clickNode(node.id.slice(2));
        else if (scope) this.toggle(scope.id.slice(2));
      });
      pane.addEventListener("mouseover", (e) => {
        const node = e.target.closest("g.node");
        if (node) this.show(node.id.slice(2));
      });
      pane.addEventListener("mouseleave", () => this.show(this.pinned));
    }

    /* ----- interaction ----- */
    toggle(sid) {
      if (this.collapsed.has(sid)) this.collapsed.delete(sid);
      else this.collapsed.add(sid);
      this.layout();
    }

    clickNode(key) {
      if (key in this.data.scopes) return this.toggle(key);
      this.pinned = key;
      this.show(key);
    }

    async find(query) {
      const q = query.trim().toLowerCase();
      if (!q) return;
      if (q !== this.query) {
        this.query = q;
        const words = (id) => this.data.nodes[id].search.split(" ");
        const ids = Object.keys(this.data.nodes).filter((id) => this.data.nodes[id].search.includes(q));
        this.matches = [...ids.filter((id) => words(id).includes(q)), ...ids.filter((id) => !words(id).includes(q))];
        this.at = -1;
      }
      if (!this.matches.length) {
        this.status.textContent = `no node matches "${query}"`;
        return;
      }
      this.at = (this.at + 1) % this.matches.length;
      const id = this.matches[this.at];
      if (this.rep(id) !== id) {
        for (const s of this.chains[id]) this.collapsed.delete(s);
        await this.layout();
      }
      this.centreOn(this.nodes.get(id));
      this.pinned = id;
      this.show(id);
      for (const g of this.nodes.values()) g.classList.toggle("found", g === this.nodes.get(id));
      this.status.textContent = `match ${this.at + 1} of ${this.matches.length}: ${id}`;
    }

    toggleEntry(k) {
      const keys = this.data.entries[k].path.map((id) => this.rep(id));
      const same = this.entry === k;
      this.entry = same ? null : k;
      this.highlight = same ? new Set() : new Set(keys);
      for (const b of this.root.querySelectorAll("button.entry")) b.classList.toggle("on", +b.dataset.entry === this.entry);
      this.paint();
      if (same) this.fit();
      else this.fitToBoxes([...this.highlight].map((key) => this.nodes.get(key)).filter(Boolean));
    }

    setStep(k) {
      this.step = k;
      this.stepLabel.textContent = this.data.steps[k].label;
      this.setTexts();
      this.paint();
      this.show(this.pinned);
    }

    /* ----- colours and changing text, applied to the laid-out SVG ----- */
    setTexts() {
      const step = this.data.steps[this.step];
      for (const [key, g] of this.nodes) {
        if (!(key in this.data.nodes) || this.data.nodes[key].kind !== "tensor" || !step.values[key].length) continue;
        const texts = g.querySelectorAll("text"), first = this.data.nodes[key].rows.length;
        this.valueRows(step, key).forEach((row, i) => { if (texts[first + i]) texts[first + i].textContent = row; });
      }
    }

    paint() {
      const d = this.data, step = d.steps[this.step], marks = d.marks;
      for (const [key, g] of this.nodes) {
        const members = key in d.scopes ? this.members(key) : [key];
        let fill = "#f7f7f7", line = "#666666", width = "1";
        if (!(key in d.scopes)) fill = d.nodes[key].kind === "op" ? "#eeeeee" : d.nodes[key].fill;
        const entry = members.map((m) => marks.entry[m]).find(Boolean);
        if (this.noiseOn && entry && (d.nodes[key]?.kind === "op" || key in d.scopes)) {
          fill = d.colours[entry][1];
        }
        if (this.heatOn && d.nodes[key]?.kind !== "op") {
          const hot = members.filter((m) => step.heat[m]).sort((a, b) => step.values[b][4] - step.values[a][4])[0];
          if (hot) fill = step.heat[hot];
        }
        const mark = members.map((m) => marks.nodes[m]).find(Boolean);
        if (this.noiseOn && mark) [line, width] = [d.colours[mark][0], "2.5"];
        for (const s of g.querySelectorAll("ellipse, polygon, path")) {
          s.setAttribute("fill", fill);
          s.setAttribute("stroke", line);
          s.setAttribute("stroke-width", width);
        }
        for (const t of g.querySelectorAll("text")) t.setAttribute("fill", fontFor(fill));
        g.classList.toggle("hl", this.highlight.has(key));
        g.classList.toggle("dim", this.highlight.size > 0 && !this.highlight.has(key));
      }
      const edgeMarks = {}; // drawn edge id -> the colour of a noise-path edge it stands for
      for (const [u, v] of d.edges) {
        const mark = marks.edges[u + "-" + v], id = `e-${this.rep(u)}-${this.rep(v)}`;
        if (mark && !edgeMarks[id]) edgeMarks[id] = mark;
      }
      for (const e of this.svg.querySelectorAll("g.edge")) {
        const mark = this.noiseOn && edgeMarks[e.id];
        for (const s of e.querySelectorAll("path, polygon")) {
          s.setAttribute("stroke", mark ? d.colours[mark][0] : "#555555");
          s.setAttribute("stroke-width", mark ? "2.5" : "1");
          if (s.tagName === "polygon") s.setAttribute("fill", mark ? d.colours[mark][0] : "#555555");
        }
        e.classList.toggle("dim", this.highlight.size > 0);
      }
    }

    /* ----- side panel ----- */
    show(key) {
      if (!key) return;
      const d = this.data, step = d.steps[this.step];
      const row = (label, value, field) => h("tr", {}, h("th", {}, label), h("td", field ? { "data-field": field } : {}, value));
      let title, rows = [], extra = [];
      if (key in d.scopes) {
        const s = d.scopes[key], m = this.members(key);
        title = s.title;
        rows = [row("kind", s.kind), row("path", s.path), row("nodes inside", String(m.length)),
          ...s.info.map(([k, v]) => row(k, v))];
        const norms = m.map((id) => step.values[id]?.[4]).filter((x) => x !== null && x !== undefined);
        if (norms.length) rows.push(row("max grad norm", fmt(Math.max(...norms)), "grad_norm"));
      } else {
        const n = d.nodes[key];
        title = n.title;
        rows = n.info.map(([k, v]) => row(k, v));
        if (n.kind === "tensor" && step.values[key].length) {
          const [mean, std, lo, hi, gn, gm] = step.values[key];
          rows.push(row("mean", fmt(mean), "mean"), row("std", fmt(std), "std"), row("min", fmt(lo), "min"),
            row("max", fmt(hi), "max"), row("grad norm", fmt(gn), "grad_norm"), row("mean |grad|", fmt(gm), "grad_mean_abs"));
          const hist = step.hist[key];
          if (hist) extra = [hist.value && histogram("values", hist.value), hist.grad && histogram("gradient", hist.grad)];
        }
      }
      if (d.steps.length > 1) rows.unshift(row("step", step.label, "step"));
      this.panel.replaceChildren(h("h3", {}, title), h("table", {}, rows), ...extra.filter(Boolean));
      this.panel.dataset.node = key;
    }
  }

  /* Black text on light fills, white on dark ones (as viz.styles.font_for). */
  function fontFor(fill) {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(fill.slice(i, i + 2), 16));
    return 0.299 * r + 0.587 * g + 0.114 * b < 110 ? "#ffffff" : "#000000";
  }

  /* A small bar chart of a histogram computed in Python: {counts: [...], edges: [lo, ..., hi]}. */
  function histogram(label, { counts, edges }) {
    const W = 240, H = 60, top = Math.max(1, ...counts), bw = W / counts.length;
    const ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("class", "hist");
    counts.forEach((c, i) => {
      const r = document.createElementNS(ns, "rect"), bh = (c / top) * (H - 2);
      for (const [k, v] of Object.entries({ x: i * bw + 0.5, y: H - bh, width: bw - 1, height: bh })) r.setAttribute(k, v);
      const t = document.createElementNS(ns, "title");
      t.textContent = `[${fmt(edges[i])}, ${fmt(edges[i + 1])}): ${c}`;
      r.append(t);
      svg.append(r);
    });
    return h("figure", { class: "histogram" }, h("figcaption", {}, `${label}: ${counts.reduce((a, b) => a + b, 0)} in ` +
      `${counts.length} bins`), svg, h("div", { class: "range" }, h("span", {}, fmt(edges[0])), h("span", {}, fmt(edges[edges.length - 1]))));
  }

  return { mount: (root, data) => (root.explorer = new Explorer(root, data)), Explorer };
})();
