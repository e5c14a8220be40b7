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
  /* The box [x0, y0, x1, y1] of the points in an SVG path or points attribute (absolute x,y pairs, as Graphviz
   * writes them). */
  const bounds = (shape) => {
    const xy = shape.match(/-?[\d.]+/g).map(Number), xs = xy.filter((_, i) => i % 2 === 0), ys = xy.filter((_, i) => i % 2);
    return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
  };
  /* The box of the one frame (cluster) in a frame's SVG, in its coordinates. */
  const frameBox = (svg) => bounds(/class="cluster[^"]*">[\s\S]*?<(?:path|polygon)[^>]* (?:d|points)="([^"]+)"/.exec(svg)[1]);
  /* A slot in Graphviz's SVG: its node name (the frame's id, XML-escaped) and outline. */
  const SLOT = /<g id="[^"]*" class="node slot">\s*<title>([^<]*)<\/title>\s*<polygon[^>]* points="([^"]+)"\/>\s*<\/g>/g;
  const unescape = (text) => text.replace(/&#(\d+);/g, (_, c) => String.fromCharCode(+c))
    .replace(/&(lt|gt|quot|amp);/g, (_, e) => ({ lt: "<", gt: ">", quot: '"', amp: "&" })[e]);
  /* What a frame's SVG draws: its graph's content without the graph's title and white background. */
  const drawing = (svg) => svg.slice(svg.indexOf(">", svg.indexOf('<g id="graph0"')) + 1, svg.lastIndexOf("</g>"))
    .replace(/^\s*<title>[^<]*<\/title>\s*<polygon[^>]*\/>/, "");
  /* One SVG of the frames laid out each on its own: frame ``f``'s with each frame inside it drawn in its slot (moved
   * so that its frame's box lands on the slot's); the ports are no nodes of the page. */
  const compose = (frames, f = "") => frames[f].svg.replace(SLOT, (_, name, points) => {
    const g = unescape(name), [x0, , , y1] = frames[g].bb, [sx, , , sy] = bounds(points);
    return `<g class="frame" transform="translate(${sx - x0} ${sy - y1})">${drawing(compose(frames, g))}</g>`;
  }).replace(/class="node port"/g, 'class="port"');

  /* One explorer's graph (the data viz/explore.py writes) and what is drawn of it for a set of closed boxes. */
  class Model {
    constructor(data) {
      this.data = data;
      this.rollOf = {};
      for (const [id, r] of Object.entries(data.rolls)) for (const s of r.scopes) this.rollOf[s] = id;
      this.ids = Object.keys(data.nodes); // a node's index in these arrays stands for it
      this.index = new Map(this.ids.map((id, i) => [id, i]));
      this.scopes = this.ids.map((id) => data.nodes[id].scope);
      this.src = Int32Array.from(data.edges, ([u]) => this.index.get(u));
      this.dst = Int32Array.from(data.edges, ([, v]) => this.index.get(v));
      this.direct = new Map(); // box id -> the nodes directly inside it
      this.kids = new Map(); // box id -> the boxes directly inside it
      this.ids.forEach((id, i) => push(this.direct, this.scopes[i], id));
      for (const [id, sc] of Object.entries(data.scopes)) push(this.kids, sc.parent, id);
      this.within = new Map(); // box id -> the nodes inside it, filled when asked
      this.hot = {}; // box id -> per step: its node with the largest gradient norm and that norm (or null)
      this.laid = new Map(); // a frame's DOT -> its SVG
    }

    /* What the main thread keeps: everything but the nodes, the edges and the steps' values; of the nodes, the boxes
     * holding the noise paths' (to open them at once). */
    meta() {
      const d = this.data;
      return { title: d.title, scopes: d.scopes, rolls: d.rolls, entries: d.entries, colours: d.colours,
        role_fill: d.role_fill, heat: d.heat, marks: { entry: d.marks.entry }, options: d.options,
        steps: d.steps.map((s) => ({ label: s.label })), size: this.ids.length,
        scopeOf: this.scopeOf(d.entries.flatMap((e) => [e.node, ...e.path])) };
    }

    /* The nodes inside box (or roll) ``key``. */
    inside(key) {
      if (!this.within.has(key)) {
        const r = this.data.rolls[key];
        this.within.set(key, r ? r.scopes.flatMap((s) => this.inside(s))
          : [...(this.direct.get(key) || []), ...(this.kids.get(key) || []).flatMap((s) => this.inside(s))]);
      }
      return this.within.get(key);
    }

    /* ----- what is drawn, for closed boxes ``collapsed`` and rolled runs ``rolled`` ----- */
    /* What is drawn for the nodes directly in box ``s``: the outermost closed box holding them (its roll if rolled),
     * or null when every box around them is open. */
    closed(s, memo) {
      if (!s) return null;
      if (!memo.has(s)) {
        const r = this.rollOf[s];
        memo.set(s, this.closed(this.data.scopes[s].parent, memo) ??
          (!this.collapsed.has(s) ? null : r !== undefined && this.rolled.has(r) ? r : s));
      }
      return memo.get(s);
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

    /* ----- what is drawn for a state: the nodes and boxes, the open boxes (frames) and the edges ----- */
    draw(collapsed, rolled) {
      const d = this.data;
      this.collapsed = new Set(collapsed);
      this.rolled = new Set(rolled);
      const memo = new Map();
      this.reps = this.ids.map((id, i) => this.closed(this.scopes[i], memo) ?? id); // node index -> what is drawn for it
      this.drawn = new Set(this.reps);
      const edges = new Map(), users = new Map(); // drawn edge id -> {a, b, mark, pairs}; key -> its edges' ids
      const between = new Map(); // a -> b -> the drawn edge from a to b
      const marked = Object.keys(d.marks.edges).length > 0;
      for (let k = 0; k < this.src.length; k++) {
        const a = this.reps[this.src[k]], b = this.reps[this.dst[k]];
        if (a === b) continue;
        if (!between.has(a)) between.set(a, new Map());
        let e = between.get(a).get(b);
        if (!e) {
          const id = `e-${a}-${b}`;
          between.get(a).set(b, e = { a, b, mark: null, pairs: [] });
          edges.set(id, e);
          push(users, a, id);
        }
        const [u, v] = marked ? d.edges[k] : [];
        const mark = marked && d.marks.edges[u + "-" + v];
        if (mark) {
          e.mark ||= mark;
          e.pairs.push([u, v]);
        }
      }
      const [hub, kept] = d.options.hub; // as viz.fold: a node feeding many keeps edges to its first few only
      this.hubs = new Map();
      for (const [a, ids] of users) {
        if (ids.length <= hub) continue;
        this.hubs.set(a, ids.length);
        for (const id of ids.slice(kept)) if (!edges.get(id).mark) edges.delete(id);
      }
      return edges;
    }

    /* The frames that hold what is drawn, innermost first ("" is the whole graph), for a drawn key. */
    frames(key) {
      const out = [];
      for (let f = this.up(key); f; f = this.frame(this.data.scopes[f].parent)) out.push(f);
      return [...out, ""];
    }

    /* Each frame's own graph: the keys drawn directly in it, a slot for each frame inside it (laid out first, then
     * drawn into its slot), and its edges. An edge between two frames is drawn in the innermost frame holding
     * both, between what holds its ends there; inside a frame it leaves or enters, it runs to the frame's exit
     * (at its bottom) or from its entry (at its top). */
    plan(edges) {
      const parts = new Map(); // frame -> {keys, inner frames, edges: id -> {a, b, mark, pairs}}
      const part = (f) => {
        if (!parts.has(f)) parts.set(f, { keys: [], inner: new Set(), edges: new Map() });
        return parts.get(f);
      };
      const chains = new Map();
      for (const key of this.drawn) {
        const chain = this.frames(key);
        chains.set(key, chain);
        part(chain[0]).keys.push(key);
        for (let i = 1; i < chain.length; i++) part(chain[i]).inner.add(chain[i - 1]);
      }
      const add = (f, a, b, e) => {
        const id = a === e.a && b === e.b ? `e-${a}-${b}` : `e-${f}-${a}-${b}`, all = part(f).edges;
        if (!all.has(id)) all.set(id, { a, b, mark: null, pairs: [] });
        const x = all.get(id);
        x.mark ||= e.mark;
        x.pairs.push(...e.pairs);
      };
      for (const e of edges.values()) {
        const ca = chains.get(e.a), cb = chains.get(e.b), inB = new Set(cb);
        const i = ca.findIndex((f) => inB.has(f)), j = cb.indexOf(ca[i]);
        add(ca[i], i ? ca[i - 1] : e.a, j ? cb[j - 1] : e.b, e);
        for (let k = 0; k < i; k++) add(ca[k], k ? ca[k - 1] : e.a, `out-${ca[k]}`, e);
        for (let k = 0; k < j; k++) add(cb[k], `in-${cb[k]}`, k ? cb[k - 1] : e.b, e);
      }
      return parts;
    }

    /* DOT of frame ``f``'s own graph, the frames inside it having the sizes ``sizes`` (points). */
    frameDot(f, { keys, inner, edges }, sizes) {
      const d = this.data, out = ["digraph G {",
        "graph [rankdir=TB, fontname=Helvetica, fontsize=11, ranksep=0.25, nodesep=0.2];",
        `node [fontname=Helvetica, fontsize=10, fontcolor="${TEXT}"];`, `edge [color="${EDGE}", arrowsize=0.6];`];
      if (f) {
        out.push(`subgraph "cluster_${f}" { id="c-${f}"; class="scope"; label=${quote([d.scopes[f].title])}; ` +
          `style="rounded,dashed"; color="#999999"; labeljust="l"; fontcolor="${TEXT}";`);
      }
      for (const key of keys) out.push(this.nodeDot(key));
      for (const g of inner) {
        const [w, hgt] = sizes.get(g);
        out.push(`"${g}" [id="s-${g}", class="slot", shape=box, fixedsize=true, width=${w / 72}, height=${hgt / 72}, ` +
          'label="", color=transparent];');
      }
      for (const [side, rank] of [["in", "min"], ["out", "max"]]) {
        if (f && [...edges.values()].some((e) => e.a === `${side}-${f}` || e.b === `${side}-${f}`)) {
          out.push(`"${side}-${f}" [id="p-${side}-${f}", class="port", shape=point, width=0.06, color="${EDGE}"]; ` +
            `{ rank=${rank}; "${side}-${f}" }`);
        }
      }
      if (f) out.push("}");
      for (const [id, { a, b }] of edges) out.push(`"${a}" -> "${b}" [id="${id}"];`);
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
      const rows = [head, ...n.rows.slice(1),
        ...(d.steps[0].values[key].length ? [0, 1].map((i) => this.widest(values.map((v) => v[i]))) : []), ...this.hubRow(key)];
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
          for (const m of this.inside(key)) {
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
        return { count: this.inside(key).length, grad: hot.map((h) => h && `max grad norm ${fmt(h[1])}`),
          heat: hot.map((h, k) => (h && d.steps[k].heat[h[0]]) || null) };
      }
      const n = d.nodes[key], out = { kind: n.kind, rows: n.rows, info: n.info, mark: d.marks.nodes[key] || null };
      if (n.kind === "tensor") {
        for (const part of ["values", "heads", "hist", "heat"]) out[part] = d.steps.map((s) => s[part][key] ?? null);
      }
      return out;
    }

    /* Lay the state out, each frame on its own, innermost first (a frame whose graph is unchanged, e.g. one opened
     * before, comes from the cache), into one SVG. With it: the frames laid out now (``fresh``), the records of
     * what is drawn, the drawn edges with their noise colour and the noise-path edges they stand for, and what is
     * drawn for the nodes in ``watch``. */
    layout(graphviz, { collapsed, rolled, watch }) {
      const parts = this.plan(this.draw(collapsed, rolled)), sizes = new Map(), frames = {}, fresh = [];
      const depth = (f) => (f ? this.frames(f).length : 0);
      for (const f of [...parts.keys()].sort((x, y) => depth(y) - depth(x))) {
        const dot = this.frameDot(f, parts.get(f), sizes);
        if (!this.laid.has(dot)) {
          this.laid.set(dot, graphviz.dot(dot));
          fresh.push(f);
        }
        const svg = this.laid.get(dot);
        const bb = f ? frameBox(svg) : null;
        if (f) sizes.set(f, [bb[2] - bb[0], bb[3] - bb[1]]);
        frames[f] = { svg, bb };
      }
      const svg = compose(frames);
      const records = {}, reps = {}, edges = {};
      for (const key of this.drawn) records[key] = this.record(key);
      for (const id of watch) if (id in this.data.nodes) reps[id] = this.reps[this.index.get(id)];
      for (const p of parts.values()) for (const [id, e] of p.edges) edges[id] = e;
      return { svg, fresh, records, edges, reps };
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
   * several explorers), ``layout`` a state, tell nodes' innermost boxes (``scopeOf``), ``find`` nodes. Each answer
   * carries the request's id. */
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
