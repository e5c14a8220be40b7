/* tinygrad_bn graph explorer, the part that runs in its Web Worker: it parses the page's data, keeps the whole
 * graph, decides what is drawn for the boxes open and closed, writes the DOT and lays it out with Graphviz
 * (WebAssembly). The page's main thread gets only the boxes' descriptions and, per layout, the SVG and the records
 * of what is drawn, so a graph of any size never holds the page. explorer.js also uses the helpers at the end. */
"use strict";
const TinygradGraph = (() => {
  const TEXT = "#222222", EDGE = "#555555";

  /* Numbers as Python's "{:.3g}" writes them (0.0123, 1.23e-07 is written 1.23e-7); "nan", "inf" as given. */
  const fmt = (x) => (x === null || x === undefined ? "—" : typeof x === "string" ? x : String(Number(x.toPrecision(3))));
  /* A panel row of a node's data: ``field(node, "role")``. */
  const field = (n, key) => n.info.find(([k]) => k === key)?.[1];
  /* The two label rows of a tensor that change between steps: value statistics and gradient. */
  const valueRows = ([mean, std, lo, hi, gn, gm]) => [
    mean === null ? "no values" : `mean ${fmt(mean)}  std ${fmt(std)}  [${fmt(lo)}, ${fmt(hi)}]`,
    gn === null ? "no grad kept" : `grad norm ${fmt(gn)}  mean |g| ${fmt(gm)}`];
  /* A DOT label shown literally: "&" would start an entity, control characters are shown as their pictures. */
  const literal = (r) => String(r).replace(/&/g, "&amp;")
    .replace(/[\u0000-\u001f\u007f]/g, (c) => String.fromCharCode(c === "\u007f" ? 0x2421 : 0x2400 + c.charCodeAt(0)))
    .replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  const quote = (rows) => '"' + rows.map(literal).join("\\n") + '"';
  const push = (map, key, value) => (map.has(key) ? map.get(key).push(value) : map.set(key, [value]));

  /* One explorer's graph (the data viz/explore.py writes) and what is drawn of it for a set of closed boxes. */
  class Model {
    constructor(data) {
      this.data = data;
      this.rollOf = {};
      for (const [id, r] of Object.entries(data.rolls)) for (const s of r.scopes) this.rollOf[s] = id;
      this.chains = {}; // node id -> its boxes, outermost first
      this.inside = {}; // box id -> the nodes inside it
      for (const [id, n] of Object.entries(data.nodes)) {
        const chain = [];
        for (let s = n.scope; s; s = data.scopes[s].parent) chain.unshift(s);
        this.chains[id] = chain;
        for (const s of chain) (this.inside[s] ||= []).push(id);
      }
      for (const [id, r] of Object.entries(data.rolls)) this.inside[id] = r.scopes.flatMap((s) => this.inside[s] || []);
      this.hot = {}; // box id -> per step: its node with the largest gradient norm and that norm (or null)
    }

    /* What the main thread keeps: everything but the nodes, the edges and the steps' values; of the nodes, the boxes
     * holding the noise paths' (to open them at once). */
    meta() {
      const d = this.data;
      return { title: d.title, scopes: d.scopes, rolls: d.rolls, entries: d.entries, colours: d.colours, role_fill: d.role_fill, heat: d.heat,
        marks: { entry: d.marks.entry }, options: d.options, steps: d.steps.map((s) => ({ label: s.label })),
        size: Object.keys(d.nodes).length, scopeOf: this.scopeOf(d.entries.flatMap((e) => [e.node, ...e.path])) };
    }

    /* ----- which nodes are drawn, for closed boxes ``collapsed`` and rolled runs ``rolled`` ----- */
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

    /* ----- DOT for a state ----- */
    dot(collapsed, rolled) {
      const d = this.data;
      this.collapsed = new Set(collapsed);
      this.rolled = new Set(rolled);
      const placed = new Map(); // frame id or "" -> drawn keys directly inside it
      const used = new Set(); // frames holding something
      this.reps = {}; // node id -> what is drawn for it
      for (const id of Object.keys(d.nodes)) this.reps[id] = this.rep(id);
      this.drawn = new Set(Object.values(this.reps));
      for (const key of this.drawn) {
        const f = this.up(key);
        push(placed, f, key);
        for (let s = f; s && !used.has(s); s = this.frame(d.scopes[s].parent)) used.add(s);
      }
      const children = new Map();
      for (const sid of used) push(children, this.frame(d.scopes[sid].parent), sid);
      this.edges = new Map(); // edge id -> [a, b]
      this.edgeMarks = {}; // edge id -> the noise colour of a noise-path edge it stands for
      const users = new Map();
      for (const [u, v] of d.edges) {
        const a = this.reps[u], b = this.reps[v];
        if (a === b) continue;
        const id = `e-${a}-${b}`, mark = d.marks.edges[u + "-" + v];
        if (mark) this.edgeMarks[id] ||= mark;
        if (this.edges.has(id)) continue;
        this.edges.set(id, [a, b]);
        push(users, a, id);
      }
      const [hub, kept] = d.options.hub; // as viz.fold: a node feeding many keeps edges to its first few only
      this.hubs = new Map();
      for (const [a, ids] of users) {
        if (ids.length <= hub) continue;
        this.hubs.set(a, ids.length);
        for (const id of ids.slice(kept)) if (!this.edgeMarks[id]) this.edges.delete(id);
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
      for (const [id, [a, b]] of this.edges) out.push(`"${a}" -> "${b}" [id="${id}"];`);
      out.push("}");
      return out.join("\n");
    }

    nodeDot(key) {
      const d = this.data;
      if (this.isBox(key)) {
        const box = d.rolls[key] || d.scopes[key], grad = this.hottest(key).map((h) => h && `max grad norm ${fmt(h[1])}`);
        const rows = [...(box.rows || box.head), ...this.hubRow(key), ...(grad.some(Boolean) ? [this.widest(grad)] : [])];
        const pad = box.noise.length ? 0.15 + 0.15 * box.noise.length : 0.1; // room for the noise badges
        return `"${key}" [id="n-${key}", class="group${key in d.rolls ? " roll" : ""}", shape=box, style=filled, ` +
          `margin="${pad.toFixed(2)},0.05", ${key in d.rolls ? "peripheries=2, " : ""}label=${quote(rows)}];`;
      }
      const n = d.nodes[key];
      if (n.kind === "op") {
        return `"${key}" [id="n-${key}", class="op", shape=ellipse, style=filled, margin="0.05,0.02", ` +
          `label=${quote([...n.rows, ...this.hubRow(key)])}];`;
      }
      const head = this.widest(d.steps.map((s) => s.heads[key] || n.rows[0]));
      const values = d.steps.map((s) => valueRows(s.values[key]));
      const rows = [head, ...n.rows.slice(1), ...(d.steps[0].values[key].length ? [0, 1].map((i) => this.widest(values.map((v) => v[i]))) : []),
        ...this.hubRow(key)];
      return `"${key}" [id="n-${key}", class="tensor", shape=box, style="rounded,filled", label=${quote(rows)}];`;
    }

    /* The longest of a label row's texts over the steps, so that every step's text fits the laid-out node. */
    widest(texts) {
      return texts.filter(Boolean).reduce((a, b) => (b.length > a.length ? b : a), "");
    }

    /* A node feeding many others says so: only the edges to the first few are drawn. */
    hubRow(key) {
      const n = this.hubs.get(key);
      return n ? [`used by ${n} nodes: edges to the first ${this.data.options.hub[1]} are drawn`] : [];
    }

    /* Per step, the node inside box ``key`` with the largest gradient norm and that norm (or null). */
    hottest(key) {
      if (!(key in this.hot)) {
        this.hot[key] = this.data.steps.map((step) => {
          let best = null;
          for (const m of this.inside[key] || []) {
            const v = step.values[m];
            if (v && typeof v[4] === "number" && (best === null || v[4] > best[1])) best = [m, v[4]];
          }
          return best;
        });
      }
      return this.hot[key];
    }

    /* What the main thread needs of a drawn node or box to colour it, fill its label rows and show its panel. */
    record(key) {
      const d = this.data;
      if (this.isBox(key)) {
        const hot = this.hottest(key);
        return { count: (this.inside[key] || []).length, grad: hot.map((h) => h && `max grad norm ${fmt(h[1])}`),
          heat: hot.map((h, k) => (h && d.steps[k].heat[h[0]]) || null) };
      }
      const n = d.nodes[key], out = { kind: n.kind, rows: n.rows, info: n.info, mark: d.marks.nodes[key] || null };
      if (n.kind === "tensor") {
        for (const part of ["values", "heads", "hist", "heat"]) out[part] = d.steps.map((s) => s[part][key] ?? null);
      }
      return out;
    }

    /* Lay the state out: the SVG, the records of what is drawn, the drawn edges with their noise marks, and what
     * is drawn for the nodes in ``watch``. */
    async layout(graphviz, { collapsed, rolled, watch }) {
      const svg = graphviz.dot(this.dot(collapsed, rolled));
      const records = {};
      for (const key of this.drawn) records[key] = this.record(key);
      const reps = {};
      for (const id of watch) if (id in this.reps) reps[id] = this.reps[id];
      return { svg, records, edges: [...this.edges], edgeMarks: this.edgeMarks, reps };
    }

    /* The innermost box of each of the nodes ``ids`` (null at the top level). */
    scopeOf(ids) {
      return Object.fromEntries(ids.map((id) => [id, this.data.nodes[id].scope]));
    }

    /* Nodes matching a search, whole-word matches first: by id, op or name and role, and module path. */
    find(query) {
      const words = (n, id) => [id, ...(n.kind === "op" ? [n.rows[0]] : [field(n, "name"), field(n, "role")])
        .filter((w) => w !== "—"), field(n, "module")].join(" ").toLowerCase();
      const whole = [], part = [];
      for (const [id, n] of Object.entries(this.data.nodes)) {
        const text = words(n, id);
        if (text.split(" ").includes(query)) whole.push(id);
        else if (text.includes(query)) part.push(id);
      }
      return [...whole, ...part];
    }
  }

  /* The worker's message loop: ``load`` a page's data (its JSON text, or the parsed object of a page that holds
   * several explorers), ``layout`` a state, tell nodes' innermost boxes (``scopeOf``), ``find`` nodes. Each answer carries
   * the request's id. */
  function serve(graphviz) {
    const models = new Map();
    const ready = graphviz.Graphviz.load();
    const act = {
      load: ({ model, text, data }) => {
        const m = new Model(data || JSON.parse(text));
        models.set(model, m);
        return m.meta();
      },
      layout: async ({ model, state }) => models.get(model).layout(await ready, state),
      scopeOf: ({ model, ids }) => models.get(model).scopeOf(ids),
      find: ({ model, query }) => models.get(model).find(query),
    };
    self.onmessage = async ({ data: msg }) => {
      try {
        postMessage({ id: msg.id, result: await act[msg.op](msg) });
      } catch (err) {
        postMessage({ id: msg.id, error: String(err) });
      }
    };
  }

  return { Model, serve, fmt, field, valueRows };
})();
