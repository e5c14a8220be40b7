/* tinygrad_bn graph explorer: lays a captured graph out with Graphviz (WebAssembly, in a Web Worker) and
 * lets you zoom, pan, open and close boxes, unroll repeated blocks, inspect nodes, follow noise paths and
 * step through training. Data comes from viz/explore.py (see its docstring for the format); no request
 * leaves the page. */
"use strict";
window.TinygradExplorer = (() => {
  const READABLE = 1.4; // screen pixels per point at the first view: 10 pt labels are 14 px tall
  const CLOSEST = 2.5; // a highlighted path is never zoomed in further than this
  const TEXT = "#222222", OP_FILL = "#eeeeee", BOX_FILL = "#f7f7f7", LINE = "#666666", EDGE = "#555555";
  let worker = null;
  const jobs = new Map();
  let nextJob = 0;

  /* Graphviz is vendored as an ES module inside <script type="text/plain" id="tgbn-graphviz">; it runs in
   * one Web Worker shared by every explorer of the page, so a long layout never blocks the page. A page
   * opened from a file cannot import a module into a worker, so the module's one closing export statement
   * becomes an object and the worker is a classic script. */
  function layoutInWorker(dot) {
    if (!worker) {
      const src = document.getElementById("tgbn-graphviz").textContent.replace(/export\s*\{([^}]*)\};?/, (_, names) =>
        "const tgbnGraphviz = {" + names.split(",").map((pair) => {
          const [inner, outer] = pair.trim().split(/\s+as\s+/);
          return `${outer || inner}: ${inner}`;
        }).join(", ") + "};");
      const body = `"use strict";\n${src}\nconst ready = tgbnGraphviz.Graphviz.load();\n` +
        "onmessage = async (e) => { try { postMessage({ id: e.data.id, svg: (await ready).dot(e.data.dot) }); }\n" +
        "  catch (err) { postMessage({ id: e.data.id, error: String(err) }); } };\n";
      worker = new Worker(URL.createObjectURL(new Blob([body], { type: "text/javascript" })));
      worker.onerror = (e) => {
        for (const job of jobs.values()) job.reject(new Error("Graphviz worker failed: " + e.message));
        jobs.clear();
      };
      worker.onmessage = (e) => {
        const job = jobs.get(e.data.id);
        jobs.delete(e.data.id);
        if (e.data.error) job.reject(new Error(e.data.error)); else job.resolve(e.data.svg);
      };
    }
    return new Promise((resolve, reject) => {
      const id = nextJob++;
      jobs.set(id, { resolve, reject });
      worker.postMessage({ id, dot });
    });
  }

  /* Numbers as Python's "{:.3g}" writes them (0.0123, 1.23e-07 is written 1.23e-7); "nan", "inf" as given. */
  const fmt = (x) => (x === null || x === undefined ? "—" : typeof x === "string" ? x : String(Number(x.toPrecision(3))));
  /* A DOT label shown literally: "&" would start an entity, control characters are shown as their pictures. */
  const literal = (r) => String(r).replace(/&/g, "&amp;")
    .replace(/[\u0000-\u001f\u007f]/g, (c) => String.fromCharCode(c === "\u007f" ? 0x2421 : 0x2400 + c.charCodeAt(0)))
    .replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  const quote = (rows) => '"' + rows.map(literal).join("\\n") + '"';
  const h = (tag, attrs = {}, ...kids) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v);
    }
    el.append(...kids.flat());
    return el;
  };
  const NS = "http://www.w3.org/2000/svg";
  const svgEl = (tag, attrs) => {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    return el;
  };
  const HELP = [["click a box", "open it (a ×k box unrolls)"], ["click a box's frame", "close it"],
    ["Tab, ↓ →", "next noise entry"], ["Shift+Tab, ↑ ←", "previous noise entry"], ["Enter", "open the selected box"],
    ["Esc", "clear the highlight"], ["+ −", "zoom"], ["0", "fit all"], ["drag, wheel", "pan, zoom"],
    ["drag the map", "move the view"], ["?", "this help"]];

  class Explorer {
    constructor(root, data) {
      this.root = root;
      this.data = data;
      this.step = 0;
      this.collapsed = new Set(data.options.collapsed);
      this.rolled = new Set(Object.keys(data.rolls));
      this.rollOf = {};
      for (const [id, r] of Object.entries(data.rolls)) for (const s of r.scopes) this.rollOf[s] = id;
      this.highlight = new Set();
      this.noiseOn = true;
      this.heatOn = true;
      this.pinned = null;
      this.entry = null;
      this.cache = new Map();
      this.matches = [];
      this.serial = 0;
      this.chains = {}; // node id -> its boxes, outermost first
      this.inside = {}; // box id -> the nodes inside it
      for (const [id, n] of Object.entries(data.nodes)) {
        const chain = [];
        for (let s = n.scope; s; s = data.scopes[s].parent) chain.unshift(s);
        this.chains[id] = chain;
        for (const s of chain) (this.inside[s] ||= []).push(id);
      }
      for (const [id, r] of Object.entries(data.rolls)) this.inside[id] = r.scopes.flatMap((s) => this.inside[s] || []);
      this.build();
      setTimeout(() => this.layout().then(() => this.firstView())); // a task of its own: the page answers meanwhile
    }

    /* What the search box matches a node by: its id, op or name and role, and module path. */
    searchText(id) {
      const n = this.data.nodes[id];
      const words = n.kind === "op" ? [n.rows[0]] : [field(n, "name"), field(n, "role")];
      return [id, ...words.filter((w) => w !== "—"), field(n, "module")].join(" ").toLowerCase();
    }

    /* ----- page skeleton ----- */
    build() {
      const d = this.data;
      this.pane = h("div", { class: "pane", tabindex: "0", "aria-label": "graph: Tab steps through noise entries, ? for help" });
      this.panel = h("div", { class: "panel" }, h("p", { class: "hint" }, "Hover or click a node; click a box to open it."));
      this.status = h("span", { class: "status" });
      this.depthInput = h("input", { type: "number", min: "0", value: String(d.options.depth ?? 0), title: "depth", class: "depth" });
      const toggle = (label, key) => h("label", {}, h("input", { type: "checkbox", checked: "", class: key,
        onchange: (e) => { this[key] = e.target.checked; this.paint(); } }), label);
      this.search = h("input", { type: "search", placeholder: "find name, op or module", class: "search",
        onkeydown: (e) => { if (e.key === "Enter") this.find(e.target.value); } });
      const bar = h("div", { class: "bar" },
        h("button", { class: "refit", title: "fit the whole graph in the window (0)", onclick: () => this.fit() }, "fit all"),
        h("button", { class: "overview", title: "back to the overview the page opened on",
          onclick: () => { this.collapsed = new Set(d.options.collapsed); this.rolled = new Set(Object.keys(d.rolls)); this.relayout(); } }, "overview"),
        h("button", { class: "expand", onclick: () => { this.collapsed.clear(); this.rolled.clear(); this.relayout(); } }, "expand all"),
        h("button", { class: "collapse", onclick: () => { this.collapseTo(+this.depthInput.value); this.relayout(); } },
          "collapse to depth"), this.depthInput,
        toggle("noise colours", "noiseOn"), toggle("gradient heat", "heatOn"), this.search,
        h("button", { class: "help-button", title: "keys (?)", onclick: () => this.toggleHelp() }, "?"), this.status);
      if (d.steps.length > 1) {
        this.stepLabel = h("span", { class: "step-label" }, d.steps[0].label);
        this.slider = h("input", { type: "range", min: "0", max: String(d.steps.length - 1), value: "0",
          class: "timeline", oninput: (e) => this.setStep(+e.target.value) });
        bar.append(h("label", { class: "steps" }, "step ", this.slider, this.stepLabel));
      }
      const button = (e, k) => h("li", {}, h("button", { "data-entry": String(k), class: "entry",
        style: `border-left-color:${d.colours[e.colour][0]}`, onclick: () => this.toggleEntry(k) }, e.title));
      let entries;
      if (d.entries.length > 12) { // many: grouped by module
        const groups = new Map();
        d.entries.forEach((e, k) => {
          const where = e.title.split(" — ")[0];
          if (!groups.has(where)) groups.set(where, []);
          groups.get(where).push(button(e, k));
        });
        entries = h("div", { class: "entries" }, [...groups].map(([where, items]) =>
          h("details", {}, h("summary", {}, `${where} (${items.length})`), h("ol", {}, items))));
      } else entries = h("ol", { class: "entries" }, d.entries.map(button));
      const legend = h("div", { class: "legend" },
        Object.entries(d.colours).map(([key, [line, fill, words]]) =>
          h("div", {}, h("span", { class: "swatch", style: `border-color:${line};background:${fill}` }), words)),
        d.heat ? h("div", { class: "ramp" }, h("span", { class: "bar-ramp", style: `background:${d.heat[1]}` }),
          h("span", { class: "ends" }, h("span", {}, d.heat[2]), h("span", {}, d.heat[3])), d.heat[0]) : []);
      const side = h("div", { class: "side" }, this.panel,
        h("h4", {}, `noise entries (${d.entries.length})`),
        d.entries.length ? entries : h("p", { class: "hint" }, "No batch noise enters this graph."), legend);
      this.help = h("div", { class: "help", hidden: "" }, h("h4", {}, "Keys"),
        h("table", {}, HELP.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))));
      this.minimap = h("div", { class: "minimap", title: "overview map: drag to move the view" });
      this.pane.append(this.minimap, this.help);
      this.root.append(bar, h("div", { class: "main" }, this.pane, side));
      this.listen();
    }

    /* ----- which nodes are drawn ----- */
    rep(id) {
      const s = this.chains[id].find((c) => this.collapsed.has(c));
      if (s === undefined) return id;
      const r = this.rollOf[s];
      return r !== undefined && this.rolled.has(r) ? r : s;
    }

    isBox(key) {
      return key in this.data.scopes || key in this.data.rolls;
    }

    /* A box's drawing frame: a function scope that is all its module holds is drawn as the module. */
    frame(scope) {
      return scope ? this.data.scopes[scope].box : "";
    }

    up(key) {
      const d = this.data;
      if (key in d.rolls) return this.frame(d.scopes[d.rolls[key].scopes[0]].parent);
      if (key in d.scopes) return this.frame(d.scopes[key].parent);
      return this.frame(d.nodes[key].scope);
    }

    collapseTo(depth) {
      this.collapsed = new Set(Object.keys(this.data.scopes).filter((s) => this.data.scopes[s].level > depth));
    }

    /* ----- DOT for the current state ----- */
    dot() {
      const d = this.data;
      const placed = new Map(); // frame id or "" -> drawn keys directly inside it
      const used = new Set(); // frames holding something
      const rep = {}; // node id -> what is drawn for it, once per layout
      for (const id of Object.keys(d.nodes)) rep[id] = this.rep(id);
      const drawn = new Set(Object.values(rep));
      for (const key of drawn) {
        const f = this.up(key);
        if (!placed.has(f)) placed.set(f, []);
        placed.get(f).push(key);
        for (let s = f; s && !used.has(s); s = this.frame(d.scopes[s].parent)) used.add(s);
      }
      const children = new Map();
      for (const sid of used) {
        const p = this.frame(d.scopes[sid].parent);
        if (!children.has(p)) children.set(p, []);
        children.get(p).push(sid);
      }
      this.drawnEdges = new Map(); // edge id -> [a, b]
      const users = new Map(), marked = new Set();
      const anyMarks = Object.keys(d.marks.edges).length > 0;
      for (const [u, v] of d.edges) {
        const a = rep[u], b = rep[v];
        if (a === b) continue;
        const id = `e-${a}-${b}`;
        if (anyMarks && d.marks.edges[u + "-" + v]) marked.add(id);
        if (this.drawnEdges.has(id)) continue;
        this.drawnEdges.set(id, [a, b]);
        if (!users.has(a)) users.set(a, []);
        users.get(a).push(id);
      }
      const [hub, kept] = d.options.hub; // as viz.fold: a node feeding many keeps edges to its first few only
      this.hubs = new Map();
      for (const [a, ids] of users) {
        if (ids.length <= hub) continue;
        this.hubs.set(a, ids.length);
        for (const id of ids.slice(kept)) if (!marked.has(id)) this.drawnEdges.delete(id);
      }
      const out = ["digraph G {", 'graph [rankdir=TB, fontname=Helvetica, fontsize=11, newrank=true, ranksep=0.25, nodesep=0.2];',
        `node [fontname=Helvetica, fontsize=10, fontcolor="${TEXT}"];`, `edge [color="${EDGE}", arrowsize=0.6];`];
      const emit = (frame, indent) => {
        for (const key of placed.get(frame) || []) out.push(indent + this.nodeDot(key));
        for (const sid of children.get(frame) || []) {
          out.push(`${indent}subgraph "cluster_${sid}" { id="c-${sid}"; class="scope"; label=${quote([d.scopes[sid].title])}; ` +
            `style="rounded,dashed"; color="#999999"; labeljust="l"; fontcolor="${TEXT}";`);
          emit(sid, indent + "  ");
          out.push(indent + "}");
        }
      };
      emit("", "");
      for (const [id, [a, b]] of this.drawnEdges) out.push(`"${a}" -> "${b}" [id="${id}"];`);
      out.push("}");
      return out.join("\n");
    }

    nodeDot(key) {
      const d = this.data;
      if (this.isBox(key)) {
        const box = d.rolls[key] || d.scopes[key];
        const rows = [...(box.rows || box.head), ...this.hubRow(key), ...this.gradRow(key)];
        const pad = box.noise.length ? 0.15 + 0.15 * box.noise.length : 0.1; // room for the noise badges
        return `"${key}" [id="n-${key}", class="group${key in d.rolls ? " roll" : ""}", shape=box, style=filled, ` +
          `margin="${pad.toFixed(2)},0.05", ${key in d.rolls ? "peripheries=2, " : ""}label=${quote(rows)}];`;
      }
      const n = d.nodes[key];
      if (n.kind === "op") {
        return `"${key}" [id="n-${key}", class="op", shape=ellipse, style=filled, margin="0.05,0.02", ` +
          `label=${quote([...n.rows, ...this.hubRow(key)])}];`;
      }
      const widest = (row) => d.steps.map((s) => this.valueRows(s, key)[row]).reduce((a, b) => (b.length > a.length ? b : a));
      const head = d.steps.map((s) => s.heads[key] || n.rows[0]).reduce((a, b) => (b.length > a.length ? b : a));
      const rows = [head, ...n.rows.slice(1), ...(d.steps[0].values[key].length ? [widest(0), widest(1)] : []),
        ...this.hubRow(key)];
      return `"${key}" [id="n-${key}", class="tensor", shape=box, style="rounded,filled", label=${quote(rows)}];`;
    }

    /* A node feeding many others says so: only the edges to the first few are drawn. */
    hubRow(key) {
      const n = this.hubs.get(key);
      return n ? [`used by ${n} nodes: edges to the first ${this.data.options.hub[1]} are drawn`] : [];
    }

    /* The largest gradient norm inside a box at the step shown (one row, or none). */
    gradRow(key, step = this.data.steps[this.step]) {
      let best = null;
      for (const m of this.inside[key] || []) {
        const v = step.values[m];
        if (v && typeof v[4] === "number" && (best === null || v[4] > best[1])) best = [m, v[4]];
      }
      this.hottest = this.hottest || {};
      this.hottest[key] = best && best[0];
      return best ? [`max grad norm ${fmt(best[1])}`] : [];
    }

    /* The two label rows that change between steps: value statistics and gradient. */
    valueRows(step, id) {
      const [mean, std, lo, hi, gn, gm] = step.values[id];
      return [mean === null ? "no values" : `mean ${fmt(mean)}  std ${fmt(std)}  [${fmt(lo)}, ${fmt(hi)}]`,
        gn === null ? "no grad kept" : `grad norm ${fmt(gn)}  mean |g| ${fmt(gm)}`];
    }

    /* ----- layout (Graphviz in a Web Worker), cached per state ----- */
    relayout() {
      return this.layout().then(() => this.fitDrawn());
    }

    async layout() {
      const serial = ++this.serial;
      this.root.dataset.ready = "0";
      this.status.textContent = "laying out…";
      const key = [...this.collapsed].sort().join(",") + "|" + [...this.rolled].sort().join(",");
      const source = this.dot();
      try {
        if (!this.cache.has(key)) this.cache.set(key, layoutInWorker(source));
        const text = await this.cache.get(key);
        if (serial !== this.serial) return; // a newer layout was asked for meanwhile
        const svg = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
        svg.removeAttribute("width");
        svg.removeAttribute("height");
        this.pane.querySelector(":scope > svg")?.remove();
        this.pane.prepend(svg);
        this.svg = svg;
      } catch (err) {
        this.cache.delete(key);
        this.status.textContent = "layout failed: " + err;
        throw err;
      }
      this.base = this.svg.getAttribute("viewBox").split(" ").map(Number);
      this.nodes = new Map([...this.svg.querySelectorAll("g.node")].map((g) => [g.id.slice(2), g]));
      this.setTexts();
      this.paint();
      this.drawMinimap();
      if (!this.view) this.fit();
      else this.setView(...this.view);
      this.status.textContent = `${this.nodes.size} drawn for ${Object.keys(this.data.nodes).length} nodes`;
      this.root.dataset.ready = "1";
    }

    /* ----- view: fit, zoom, pan (the SVG viewBox) ----- */
    setView(x, y, w, hgt) {
      this.view = [x, y, w, hgt];
      this.svg.setAttribute("viewBox", this.view.join(" "));
      this.root.dispatchEvent(new CustomEvent("tgbn-view"));
      if (this.lens) for (const [k, v] of Object.entries({ x, y, width: w, height: hgt })) this.lens.setAttribute(k, v);
    }

    fit() {
      this.setView(...this.base);
    }

    /* Screen pixels per point when the view is ``w`` points wide and ``hgt`` tall. */
    scaleFor(w, hgt) {
      const r = this.pane.getBoundingClientRect();
      return Math.min(r.width / w, r.height / hgt);
    }

    /* At ``scale`` pixels per point, centred on (cx, cy) (in points), the viewBox filling the pane. */
    viewAt(cx, cy, scale) {
      const r = this.pane.getBoundingClientRect();
      const w = r.width / scale, hgt = r.height / scale;
      this.setView(cx - w / 2, cy - hgt / 2, w, hgt);
    }

    /* The first view: everything if that is readable, else readable and starting at the input end (the top). */
    firstView() {
      const focus = this.data.options.focus;
      if (focus) return this.reveal(focus).then(() => this.readable(this.boxOf(this.svg.querySelector(`#c-${focus}, #n-${focus}`))));
      const top = [...this.nodes.values()].map((g) => this.boxOf(g)).sort((a, b) => a[1] - b[1])[0];
      this.readable(this.base, top[0] + top[2] / 2);
    }

    /* Box [x, y, w, h] fitted in the window if that is readable, else at a readable zoom from its top, centred
     * on ``cx`` (default: the box's centre) as far as the box allows. */
    readable([x, y, w, hgt], cx = x + w / 2) {
      if (this.scaleFor(w * 1.1, hgt * 1.1) >= READABLE) return this.viewAt(x + w / 2, y + hgt / 2, this.scaleFor(w * 1.1, hgt * 1.1));
      const r = this.pane.getBoundingClientRect(), vw = r.width / READABLE, vh = r.height / READABLE;
      this.viewAt(vw >= w ? x + w / 2 : Math.min(Math.max(cx, x + vw / 2), x + w - vw / 2), y + vh / 2, READABLE);
    }

    /* After opening or closing a box: keep the view if it still shows something, else fit it readably. */
    fitDrawn() {
      const [x, y, w, hgt] = this.base;
      if (this.scaleFor(w, hgt) >= READABLE) this.fit();
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

    fitToBoxes(els, margin = 1.15, closest = Infinity) {
      if (!els.length) return;
      const boxes = els.map((el) => this.boxOf(el));
      const x = Math.min(...boxes.map((b) => b[0])), y = Math.min(...boxes.map((b) => b[1]));
      const w = Math.max(...boxes.map((b) => b[0] + b[2])) - x, hgt = Math.max(...boxes.map((b) => b[1] + b[3])) - y;
      const scale = Math.min(this.scaleFor(w * margin, hgt * margin), closest);
      this.viewAt(x + w / 2, y + hgt / 2, scale);
    }

    centreOn(el) {
      const [x, y, w, hgt] = this.boxOf(el);
      this.viewAt(x + w / 2, y + hgt / 2, Math.max(READABLE, this.scaleFor(...this.view.slice(2))));
    }

    zoomAt(cx, cy, factor) {
      const [px, py] = this.toSvg(cx, cy);
      const [x, y, w, hgt] = this.view;
      this.setView(px - (px - x) / factor, py - (py - y) / factor, w / factor, hgt / factor);
    }

    zoomCentre(factor) {
      const r = this.pane.getBoundingClientRect();
      this.zoomAt(r.left + r.width / 2, r.top + r.height / 2, factor);
    }

    /* ----- the overview map: the whole graph, the window as a rectangle you can drag ----- */
    drawMinimap() {
      const copy = this.svg.cloneNode(true);
      copy.removeAttribute("id");
      copy.setAttribute("viewBox", this.base.join(" "));
      copy.setAttribute("preserveAspectRatio", "xMidYMid meet");
      for (const t of copy.querySelectorAll("text")) t.remove();
      for (const e of copy.querySelectorAll("[id]")) e.removeAttribute("id");
      this.lens = svgEl("rect", { class: "lens" });
      copy.append(this.lens);
      this.minimap.replaceChildren(copy);
      this.mini = copy;
    }

    listen() {
      const pane = this.pane, pointers = new Map();
      let moved = 0, pinch = 0;
      const toMini = (e) => {
        const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(this.mini.getScreenCTM().inverse());
        const [, , w, hgt] = this.view;
        this.setView(p.x - w / 2, p.y - hgt / 2, w, hgt);
      };
      this.minimap.addEventListener("pointerdown", (e) => {
        e.stopPropagation();
        this.minimap.setPointerCapture(e.pointerId);
        toMini(e);
      });
      this.minimap.addEventListener("pointermove", (e) => {
        e.stopPropagation();
        if (this.minimap.hasPointerCapture(e.pointerId)) toMini(e);
      });
      this.minimap.addEventListener("click", (e) => e.stopPropagation());
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
      this.root.addEventListener("keydown", (e) => this.key(e));
    }

    key(e) {
      if (e.target.closest("input, textarea, select") || e.ctrlKey || e.metaKey || e.altKey) return;
      const onPane = e.target === this.pane, n = this.data.entries.length;
      const step = (by) => n && this.toggleEntry(((this.entry ?? (by > 0 ? -1 : 0)) + by + n) % n, true);
      const act = {
        Tab: () => onPane && n ? (step(e.shiftKey ? -1 : 1), true) : false,
        ArrowDown: () => (step(1), true), ArrowRight: () => (step(1), true),
        ArrowUp: () => (step(-1), true), ArrowLeft: () => (step(-1), true),
        Enter: () => (this.pinned && this.isBox(this.pinned) ? (this.toggle(this.pinned), true) : false),
        Escape: () => (this.clear(), this.help.hidden = true, true),
        "+": () => (this.zoomCentre(1.25), true), "=": () => (this.zoomCentre(1.25), true),
        "-": () => (this.zoomCentre(0.8), true), "0": () => (this.fit(), true), "?": () => (this.toggleHelp(), true),
      }[e.key];
      if (act && act()) e.preventDefault();
    }

    toggleHelp() {
      this.help.hidden = !this.help.hidden;
    }

    /* ----- interaction ----- */
    toggle(key) {
      this.root.dispatchEvent(new CustomEvent("tgbn-toggle", { detail: key }));
      if (key in this.data.rolls) this.rolled.delete(key);
      else if (this.collapsed.has(key)) this.collapsed.delete(key);
      else this.collapsed.add(key);
      this.pinned = null;
      return this.relayout();
    }

    clickNode(key) {
      this.pinned = key;
      this.show(key);
      this.paint();
      if (this.isBox(key)) return this.toggle(key);
    }

    /* Open every box holding node or scope ``id`` (and unroll the runs holding it). */
    async reveal(...ids) {
      let changed = false;
      for (const id of ids) {
        const chain = id in this.data.scopes ? [...(this.chains[this.inside[id]?.[0]] || [])] : this.chains[id] || [];
        for (const s of chain) {
          if (s === id) break;
          const r = this.rollOf[s];
          if (r !== undefined && this.rolled.delete(r)) changed = true;
          if (this.collapsed.delete(s)) changed = true;
        }
      }
      if (changed) await this.layout();
    }

    async find(query) {
      const q = query.trim().toLowerCase();
      if (!q) return;
      if (q !== this.query) {
        this.query = q;
        const text = {};
        for (const id of Object.keys(this.data.nodes)) text[id] = this.searchText(id);
        const words = (id) => text[id].split(" ");
        const ids = Object.keys(text).filter((id) => text[id].includes(q));
        this.matches = [...ids.filter((id) => words(id).includes(q)), ...ids.filter((id) => !words(id).includes(q))];
        this.at = -1;
      }
      if (!this.matches.length) {
        this.status.textContent = `no node matches "${query}"`;
        return;
      }
      this.at = (this.at + 1) % this.matches.length;
      const id = this.matches[this.at];
      await this.reveal(id);
      this.centreOn(this.nodes.get(id));
      this.pinned = id;
      this.show(id);
      for (const g of this.nodes.values()) g.classList.toggle("found", g === this.nodes.get(id));
      this.status.textContent = `match ${this.at + 1} of ${this.matches.length}: ${id}`;
    }

    clear() {
      this.entry = null;
      this.highlight = new Set();
      this.selected = null;
      for (const b of this.root.querySelectorAll("button.entry")) b.classList.remove("on");
      this.paint();
    }

    /* Light noise entry ``k``'s path: open the boxes holding it, keep it in its colour, fade the rest, and
     * fit the path with its neighbours in the window. */
    async toggleEntry(k, keep = false) {
      if (this.entry === k && !keep) {
        this.clear();
        return;
      }
      const e = this.data.entries[k];
      this.entry = k;
      for (const b of this.root.querySelectorAll("button.entry")) {
        b.classList.toggle("on", +b.dataset.entry === k);
        if (+b.dataset.entry === k) b.closest("details")?.setAttribute("open", "");
      }
      await this.reveal(...e.path);
      this.highlight = new Set(e.path.map((id) => this.rep(id)));
      this.selected = this.rep(e.node);
      this.pinned = e.node;
      this.show(e.node);
      this.paint();
      const near = new Set(this.highlight);
      for (const [a, b] of this.drawnEdges.values()) {
        if (this.highlight.has(a)) near.add(b);
        if (this.highlight.has(b)) near.add(a);
      }
      this.fitToBoxes([...near].map((key) => this.nodes.get(key)).filter(Boolean), 1.1, CLOSEST);
      this.status.textContent = e.title;
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
      const d = this.data, step = d.steps[this.step];
      for (const [key, g] of this.nodes) {
        const texts = g.querySelectorAll("text");
        if (this.isBox(key)) {
          const row = this.gradRow(key)[0];
          if (row) texts[texts.length - 1].textContent = row;
          continue;
        }
        if (d.nodes[key].kind !== "tensor") continue;
        texts[0].textContent = step.heads[key] || d.nodes[key].rows[0];
        if (!step.values[key].length) continue;
        const first = d.nodes[key].rows.length;
        this.valueRows(step, key).forEach((row, i) => { if (texts[first + i]) texts[first + i].textContent = row; });
      }
    }

    fillOf(key, step) {
      const d = this.data;
      if (this.isBox(key)) {
        const hot = this.hottest?.[key];
        return this.heatOn && hot && step.heat[hot] ? step.heat[hot] : BOX_FILL;
      }
      const n = d.nodes[key], entry = d.marks.entry[key];
      if (n.kind === "op") return this.noiseOn && entry ? d.colours[entry][1] : OP_FILL;
      return this.heatOn && step.heat[key] ? step.heat[key] : d.role_fill[field(n, "role")];
    }

    paint() {
      const d = this.data, step = d.steps[this.step], marks = d.marks, lit = this.highlight.size > 0;
      for (const [key, g] of this.nodes) {
        this.gradRow(key);
        const fill = this.fillOf(key, step);
        const box = d.rolls[key] || d.scopes[key];
        const mark = box ? box.noise[0] : marks.nodes[key];
        const [line, width] = this.noiseOn && mark ? [d.colours[mark][0], "2.5"] : [LINE, "1"];
        for (const s of g.querySelectorAll(":scope > ellipse, :scope > polygon, :scope > path")) {
          s.setAttribute("fill", fill);
          s.setAttribute("stroke", line);
          s.setAttribute("stroke-width", width);
        }
        for (const t of g.querySelectorAll("text")) t.setAttribute("fill", TEXT);
        g.querySelectorAll(".badge").forEach((b) => b.remove());
        if (box && this.noiseOn && box.noise.length) this.badges(g, box.noise);
        g.classList.toggle("hl", lit && this.highlight.has(key));
        g.classList.toggle("dim", lit && !this.highlight.has(key));
        g.classList.toggle("selected", key === this.selected || key === this.pinned);
      }
      const edgeMarks = {}; // drawn edge id -> the colour of a noise-path edge it stands for
      for (const [u, v] of d.edges) {
        const mark = marks.edges[u + "-" + v];
        if (!mark) continue;
        const id = `e-${this.rep(u)}-${this.rep(v)}`;
        if (!edgeMarks[id]) edgeMarks[id] = mark;
      }
      for (const e of this.svg.querySelectorAll("g.edge")) {
        const mark = this.noiseOn && edgeMarks[e.id];
        for (const s of e.querySelectorAll("path, polygon")) {
          s.setAttribute("stroke", mark ? d.colours[mark][0] : EDGE);
          s.setAttribute("stroke-width", mark ? "2.5" : "1");
          if (s.tagName === "polygon") s.setAttribute("fill", mark ? d.colours[mark][0] : EDGE);
        }
        const [a, b] = this.drawnEdges.get(e.id) || [];
        const on = lit && mark && this.highlight.has(a) && this.highlight.has(b);
        e.classList.toggle("hl", Boolean(on));
        e.classList.toggle("dim", lit && !on);
      }
      this.root.dispatchEvent(new CustomEvent("tgbn-paint"));
    }

    /* One badge per noise kind inside a collapsed box: a stripe of the kind's colours at its right edge. */
    badges(g, kinds) {
      const shape = g.querySelector(":scope > polygon");
      if (!shape) return;
      const b = shape.getBBox(), w = 9;
      kinds.forEach((kind, i) => {
        const [line, fill] = this.data.colours[kind];
        g.append(svgEl("rect", { class: "badge", x: b.x + b.width - (kinds.length - i) * (w + 2) - 2, y: b.y + 3,
          width: w, height: b.height - 6, fill, stroke: line, "stroke-width": 1.5 }));
      });
    }

    /* ----- side panel ----- */
    show(key) {
      if (!key) return;
      const d = this.data, step = d.steps[this.step];
      const row = (label, value, field) => h("tr", {}, h("th", {}, label), h("td", field ? { "data-field": field } : {}, value));
      let title, rows = [], extra = [];
      if (this.isBox(key)) {
        const box = d.rolls[key] || d.scopes[key];
        title = key in d.rolls ? box.rows[0] : box.title;
        rows = key in d.rolls ? [row("kind", "repeated blocks (click to unroll)"), ...box.rows.slice(1).map((r) => row("", r))]
          : [row("kind", box.kind), row("path", box.path), row("nodes inside", String((this.inside[key] || []).length)),
            ...box.info.map(([k, v]) => row(k, v))];
        if (box.noise.length) rows.push(row("noise inside", box.noise.join(", ")));
        const grad = this.gradRow(key, step)[0];
        if (grad) rows.push(row("max grad norm", grad.replace("max grad norm ", ""), "grad_norm"));
      } else {
        const n = d.nodes[key];
        title = n.kind === "op" ? `${n.rows[0]} (${key})` : `${[field(n, "name"), field(n, "role")].find((w) => w !== "—")} (${key})`;
        rows = n.info.map(([k, v]) => row(k, k === "shape" && step.heads[key] ? step.heads[key] : v));
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

  /* A panel row of a node's data: ``field(node, "role")``. */
  const field = (n, key) => n.info.find(([k]) => k === key)?.[1];

  /* A small bar chart of a histogram of equal bins computed in Python: {counts: [...], range: [lo, hi]}. */
  function histogram(label, { counts, range: [lo, hi] }) {
    const edges = counts.map((_, i) => lo + ((hi - lo) * i) / counts.length).concat([hi]);
    const W = 240, H = 60, top = Math.max(1, ...counts), bw = W / counts.length;
    const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "hist" });
    counts.forEach((c, i) => {
      const bh = (c / top) * (H - 2);
      const r = svgEl("rect", { x: i * bw + 0.5, y: H - bh, width: bw - 1, height: bh });
      const t = document.createElementNS(NS, "title");
      t.textContent = `[${fmt(edges[i])}, ${fmt(edges[i + 1])}): ${c}`;
      r.append(t);
      svg.append(r);
    });
    return h("figure", { class: "histogram" }, h("figcaption", {}, `${label}: ${counts.reduce((a, b) => a + b, 0)} in ` +
      `${counts.length} bins`), svg, h("div", { class: "range" }, h("span", {}, fmt(edges[0])), h("span", {}, fmt(edges[edges.length - 1]))));
  }

  /* A page built around explorers (viz.compare) listens to "tgbn-view" (the view moved), "tgbn-toggle" (a box
   * is about to open or close; detail: its key) and "tgbn-paint" (colours were applied) on the root. */
  /* The page's data is parsed, the explorer built and the first layout asked for in three tasks, so that a
   * large graph never holds the page for all three at once. */
  const mount = (root, text) => setTimeout(() => {
    const data = JSON.parse(text);
    setTimeout(() => (root.explorer = new Explorer(root, data)));
  });
  return { mount, Explorer, h };
})();
