/* tinygrad_bn graph explorer: lays a captured graph out with Graphviz (WebAssembly, in a Web Worker) and
 * lets you zoom, pan, open and close boxes, unroll repeated blocks, inspect nodes, follow noise paths and
 * step through training. Data comes from viz/explore.py (see its docstring for the format); no request
 * leaves the page. */
"use strict";
window.TinygradExplorer = (() => {
  const READABLE = 1.4; // screen pixels per point at the first view: 10 pt labels are 14 px tall
  const CLOSEST = 2.5; // a highlighted path is never zoomed in further than this
  const TEXT = "#222222", OP_FILL = "#eeeeee", BOX_FILL = "#f7f7f7", LINE = "#666666", EDGE = "#555555";
  const { fmt, field, valueRows } = TinygradGraph;
  let worker = null;
  const jobs = new Map();
  let nextJob = 0, nextModel = 0;

  /* The explorers' Web Worker, one for every explorer of the page: explorer_worker.js (in the page as a script
   * whose text is read here) with Graphviz, vendored as an ES module inside <script type="text/plain"
   * id="tgbn-graphviz">. A page opened from a file cannot import a module into a worker, so the module's one
   * closing export statement becomes an object and the worker is a classic script. ``ask`` sends it a request
   * and resolves with its answer. */
  function ask(msg) {
    if (!worker) {
      const src = document.getElementById("tgbn-graphviz").textContent.replace(/export\s*\{([^}]*)\};?/, (_, names) =>
        "const tgbnGraphviz = {" + names.split(",").map((pair) => {
          const [inner, outer] = pair.trim().split(/\s+as\s+/);
          return `${outer || inner}: ${inner}`;
        }).join(", ") + "};");
      const body = `"use strict";\n${src}\n${document.getElementById("tgbn-worker").textContent}\nTinygradGraph.serve(tgbnGraphviz);\n`;
      worker = new Worker(URL.createObjectURL(new Blob([body], { type: "text/javascript" })));
      worker.onerror = (e) => {
        for (const job of jobs.values()) job.reject(new Error("explorer worker failed: " + e.message));
        jobs.clear();
      };
      worker.onmessage = (e) => {
        const job = jobs.get(e.data.id);
        jobs.delete(e.data.id);
        if (e.data.error) job.reject(new Error(e.data.error)); else job.resolve(e.data.result);
      };
    }
    return new Promise((resolve, reject) => {
      const id = nextJob++;
      jobs.set(id, { resolve, reject });
      worker.postMessage({ id, ...msg });
    });
  }

  /* The end of the current task: what follows runs in a task of its own, and the page answers in between. */
  const task = () => new Promise((resolve) => setTimeout(resolve));
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

  /* One explorer on the page. Its graph lives in the worker (model ``model``); ``data`` is what the worker sent
   * back of it (the boxes, noise entries, colours, options: Model.meta), and each layout brings the records of
   * what is drawn (``records``), the drawn edges and what is drawn for the nodes watched (noise paths, and
   * what a page built around explorers asks for with ``watch``). ``Explorer.open`` makes one. */
  class Explorer {
    constructor(root, data, model) {
      this.root = root;
      this.data = data;
      this.model = model;
      this.step = 0;
      this.collapsed = new Set(data.options.collapsed);
      this.rolled = new Set(Object.keys(data.rolls));
      this.rollOf = {};
      for (const [id, r] of Object.entries(data.rolls)) for (const s of r.scopes) this.rollOf[s] = id;
      this.highlight = new Set(); // what is drawn for the lit noise path
      this.path = new Set(); // the lit path's nodes
      this.noiseOn = true;
      this.heatOn = true;
      this.pinned = null;
      this.entry = null;
      this.cache = new Map();
      this.matches = [];
      this.serial = 0;
      this.watched = new Set(data.entries.flatMap((e) => [e.node, ...e.path]));
      this.reps = {};
      this.build();
      setTimeout(() => this.layout().then(() => this.firstView())); // a task of its own: the page answers meanwhile
    }

    /* An explorer in ``root`` for a page's data: its JSON text (parsed in the worker), or the parsed object. */
    static async open(root, data) {
      const model = nextModel++;
      const meta = await ask(typeof data === "string" ? { op: "load", model, text: data } : { op: "load", model, data });
      return new Explorer(root, meta, model);
    }

    /* Ask the worker about this explorer's graph. */
    ask(op, fields = {}) {
      return ask({ op, model: this.model, ...fields });
    }

    /* Also report what is drawn for these node ids (before the first layout). */
    watch(ids) {
      for (const id of ids) this.watched.add(id);
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

    /* ----- what is drawn ----- */
    /* What is drawn for a watched node at the last layout. */
    rep(id) {
      return this.reps[id] ?? id;
    }

    isBox(key) {
      return key in this.data.scopes || key in this.data.rolls;
    }

    collapseTo(depth) {
      this.collapsed = new Set(Object.keys(this.data.scopes).filter((s) => this.data.scopes[s].level > depth));
    }

    /* ----- layout (Graphviz in a Web Worker), cached per state ----- */
    relayout() {
      return this.layout().then(() => this.fitDrawn());
    }

    async layout() {
      const serial = ++this.serial;
      this.root.dataset.ready = "0";
      this.status.textContent = "laying out…";
      const collapsed = [...this.collapsed].sort(), rolled = [...this.rolled].sort();
      const key = collapsed.join(",") + "|" + rolled.join(",");
      try {
        if (!this.cache.has(key)) this.cache.set(key, this.ask("layout", { state: { collapsed, rolled, watch: [...this.watched] } }));
        const got = await this.cache.get(key);
        if (serial !== this.serial) return; // a newer layout was asked for meanwhile
        const svg = new DOMParser().parseFromString(got.svg, "image/svg+xml").documentElement;
        await task(); // parsing a large picture, and drawing it: tasks of their own
        if (serial !== this.serial) return;
        this.records = got.records;
        this.edges = got.edges; // drawn edge id -> {a, b, mark, pairs: the noise-path edges it stands for}
        this.reps = got.reps;
        this.fresh = got.fresh; // the open boxes this layout laid out ("" the whole graph's outside); the rest were cached
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
      if (!this.view) this.fit();
      else this.setView(...this.view);
      await task(); // the overview map, a copy of the picture, in a task of its own
      if (serial !== this.serial) return;
      this.drawMinimap();
      this.status.textContent = `${this.nodes.size} drawn for ${this.data.size} nodes`;
      this.root.dataset.ready = "1";
    }

    /* ----- view: fit, zoom, pan (the SVG viewBox) ----- */
    setView(x, y, w, hgt) {
      this.view = [x, y, w, hgt];
      this.svg.setAttribute("viewBox", this.view.join(" "));
      this.root.dispatchEvent(new CustomEvent("tgbn-view"));
      this.moveLens();
    }

    /* The overview map's rectangle where the view is. */
    moveLens() {
      const [x, y, width, height] = this.view;
      if (this.lens) for (const [k, v] of Object.entries({ x, y, width, height })) this.lens.setAttribute(k, v);
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
      this.moveLens();
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
      const d = this.data, unknown = ids.filter((id) => !(id in d.scopes) && !(id in d.scopeOf));
      if (unknown.length) Object.assign(d.scopeOf, await this.ask("scopeOf", { ids: unknown }));
      let changed = false;
      for (const id of ids) {
        for (let s = (id in d.scopes ? d.scopes[id].parent : d.scopeOf[id]); s; s = d.scopes[s].parent) {
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
        this.matches = await this.ask("find", { query: q });
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
      this.path = new Set();
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
      this.path = new Set(e.path);
      this.highlight = new Set(e.path.map((id) => this.rep(id)));
      this.selected = this.rep(e.node);
      this.pinned = e.node;
      this.show(e.node);
      this.paint();
      const near = new Set(this.highlight);
      for (const { a, b } of Object.values(this.edges)) {
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
      const k = this.step;
      for (const [key, g] of this.nodes) {
        const texts = g.querySelectorAll("text"), rec = this.records[key];
        if (this.isBox(key)) {
          if (rec.grad[k]) texts[texts.length - 1].textContent = rec.grad[k];
          continue;
        }
        if (rec.kind !== "tensor") continue;
        texts[0].textContent = rec.heads[k] || rec.rows[0];
        if (!rec.values[k].length) continue;
        const first = rec.rows.length;
        valueRows(rec.values[k]).forEach((row, i) => { if (texts[first + i]) texts[first + i].textContent = row; });
      }
    }

    fillOf(key) {
      const d = this.data, rec = this.records[key], heat = this.heatOn && rec.heat?.[this.step];
      if (this.isBox(key)) return heat || BOX_FILL;
      const entry = d.marks.entry[key];
      if (rec.kind === "op") return this.noiseOn && entry ? d.colours[entry][1] : OP_FILL;
      return heat || d.role_fill[field(rec, "role")];
    }

    paint() {
      const d = this.data, lit = this.highlight.size > 0;
      for (const [key, g] of this.nodes) {
        const fill = this.fillOf(key);
        const box = d.rolls[key] || d.scopes[key];
        const mark = box ? box.noise[0] : this.records[key].mark;
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
      for (const e of this.svg.querySelectorAll("g.edge")) {
        const { mark: kind, pairs } = this.edges[e.id] || { pairs: [] }, mark = this.noiseOn && kind;
        for (const s of e.querySelectorAll("path, polygon")) {
          s.setAttribute("stroke", mark ? d.colours[mark][0] : EDGE);
          s.setAttribute("stroke-width", mark ? "2.5" : "1");
          if (s.tagName === "polygon") s.setAttribute("fill", mark ? d.colours[mark][0] : EDGE);
        }
        const on = lit && mark && pairs.some(([u, v]) => this.path.has(u) && this.path.has(v));
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
      const rec = key && this.records[key];
      if (!rec) return;
      const d = this.data, k = this.step, step = d.steps[k];
      const row = (label, value, field) => h("tr", {}, h("th", {}, label), h("td", field ? { "data-field": field } : {}, value));
      let title, rows = [], extra = [];
      if (this.isBox(key)) {
        const box = d.rolls[key] || d.scopes[key];
        title = key in d.rolls ? box.rows[0] : box.title;
        rows = key in d.rolls ? [row("kind", "repeated blocks (click to unroll)"), ...box.rows.slice(1).map((r) => row("", r))]
          : [row("kind", box.kind), row("path", box.path), row("nodes inside", String(rec.count)),
            ...box.info.map(([k, v]) => row(k, v))];
        if (box.noise.length) rows.push(row("noise inside", box.noise.join(", ")));
        if (rec.grad[k]) rows.push(row("max grad norm", rec.grad[k].replace("max grad norm ", ""), "grad_norm"));
      } else {
        title = rec.kind === "op" ? `${rec.rows[0]} (${key})` : `${[field(rec, "name"), field(rec, "role")].find((w) => w !== "—")} (${key})`;
        rows = rec.info.map(([name, v]) => row(name, name === "shape" && rec.heads[k] ? rec.heads[k] : v));
        if (rec.kind === "tensor" && rec.values[k].length) {
          const [mean, std, lo, hi, gn, gm] = rec.values[k];
          rows.push(row("mean", fmt(mean), "mean"), row("std", fmt(std), "std"), row("min", fmt(lo), "min"),
            row("max", fmt(hi), "max"), row("grad norm", fmt(gn), "grad_norm"), row("mean |grad|", fmt(gm), "grad_mean_abs"));
          const hist = rec.hist[k];
          if (hist) extra = [hist.value && histogram("values", hist.value), hist.grad && histogram("gradient", hist.grad)];
        }
      }
      if (d.steps.length > 1) rows.unshift(row("step", step.label, "step"));
      this.panel.replaceChildren(h("h3", {}, title), h("table", {}, rows), ...extra.filter(Boolean));
      this.panel.dataset.node = key;
    }
  }

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
  /* The page's data text goes to the worker, which parses it: the main thread never holds the whole graph. */
  const mount = (root, text) => setTimeout(() => Explorer.open(root, text).then((ex) => { root.explorer = ex; }));
  return { mount, Explorer, h };
})();
