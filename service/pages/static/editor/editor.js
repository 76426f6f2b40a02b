// The editor page: find an article, see its list as readers will, pin / reorder / block / exclude.
// Talks to the public API (lists, drafts) and /v1/admin (overrides, search) with the session cookie;
// every change sends the page's CSRF token. Data is put in the page as text, never as HTML.
(() => {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const state = { article: null, pins: [] };

  async function api(method, url, body) {
    const init = { method, headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" };
    if (method !== "GET") init.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new Error(data && data.error ? data.error.message : `HTTP ${response.status}`);
    return data;
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  const button = (label, onClick, title) => el("button", { type: "button", textContent: label, title: title || label,
    onclick: onClick });
  const enc = encodeURIComponent;
  const day = (iso) => (iso ? iso.slice(0, 10) : "undated");
  const web = (url) => (/^https?:\/\//i.test(url || "") ? url : null);  // never a javascript: link from data
  const num = (x) => (Math.abs(x) < 0.0005 ? 0 : x).toFixed(3);

  function say(message, isError) {
    const status = $("status");
    status.textContent = message;
    status.classList.toggle("error", Boolean(isError));
  }

  async function act(message, change) {
    try {
      await change();
      await refresh();
      say(message);
    } catch (error) {
      say(error.message, true);
    }
  }

  function trialOptions() {
    const params = new URLSearchParams();
    const form = new FormData($("options-form"));
    const defaults = { category: "any", diversity: "0", min_score: "0.1", half_life_days: "" };
    for (const [name, value] of form) {
      if (value !== "" && value !== defaults[name]) params.set(name, value);
    }
    return params;
  }

  function explanation(item) {
    const e = item.explanation;
    if (!e) return null;
    const share = (t) => (e.similarity > 0.01 ? `${Math.round((100 * t.contribution) / e.similarity)}%`
      : t.contribution.toFixed(3));  // a share of almost nothing says nothing: show the contribution itself
    const terms = e.terms.map((t) => `${t.term} ${share(t)}`);
    const parts = [`similarity ${num(e.similarity)}`, `terms: ${terms.join(", ") || "none"}`,
      `semantic ${num(e.semantic)}`];
    if (e.shared_tags.length) parts.push(`tags: ${e.shared_tags.join(", ")}`);
    parts.push(e.same_category ? "same category" : "other category");
    return el("p", { className: "why", textContent: parts.join(" · ") });
  }

  function storyLine(item, actions) {
    const link = web(item.url) ? el("a", { href: item.url, textContent: item.title, target: "_blank", rel: "noopener" })
      : el("span", { textContent: item.title });
    const badge = el("span", { className: `badge ${item.source}`, textContent: item.source });
    const meta = el("p", { className: "meta" }, badge, ` score ${num(item.score)} · ${day(item.published_at)} · `,
      el("code", { textContent: item.id }));
    return el("li", { className: item.source === "pinned" ? "pinned" : "" }, link, meta, explanation(item),
      actions ? el("div", { className: "actions" }, ...actions) : null);
  }

  async function loadList() {
    const params = trialOptions();
    const trial = params.toString() !== "";
    params.set("explain", "true");
    const body = await api("GET", `/v1/articles/${enc(state.article)}/related?${params}`);
    $("list-note").textContent = trial ? "with the options above (not saved)" : "as the site shows it";
    $("related").replaceChildren(...body.related.map((item) => storyLine(item, [
      item.source === "model" ? button("Pin", () => act("Pinned.", () => savePins([...state.pins, item.id]))) : null,
      button("Block", () => act("Blocked.", () => api("POST", "/v1/admin/overrides/blocks",
        { article_id: state.article, story_id: item.id, both_ways: $("both-ways").checked })),
      "Never show it under this article"),
      button("Exclude", () => act("Excluded everywhere.", () => api("POST", "/v1/admin/overrides/exclusions",
        { story_id: item.id })), "Never show it in any list"),
    ])));
    if (!body.related.length) $("related").append(el("li", { textContent: "No related stories." }));
  }

  function savePins(stories) {
    return api("PUT", `/v1/admin/overrides/pins/${enc(state.article)}`, { stories, allow_inactive: true });
  }

  function move(index, step) {
    const pins = [...state.pins];
    [pins[index], pins[index + step]] = [pins[index + step], pins[index]];
    return savePins(pins);
  }

  function renderOverrides(listing) {
    $("model-version").textContent = listing.model_version;
    $("model-trained").textContent = listing.model_trained_at.replace("T", " ").slice(0, 16) + " UTC";
    $("model-trained").dateTime = listing.model_trained_at;
    const entry = listing.pins.find((p) => p.article_id === state.article);
    const stories = entry ? entry.stories : [];
    state.pins = stories.map((s) => s.id);
    $("pins").replaceChildren(...stories.map((s, i) => el("li", { className: s.active ? "" : "inactive" },
      el("span", { textContent: s.title || s.id }),
      inactive(s.active, s.inactive_reason),
      el("div", { className: "actions" },
        i > 0 ? button("↑", () => act("Moved up.", () => move(i, -1)), "Move up") : null,
        i < stories.length - 1 ? button("↓", () => act("Moved down.", () => move(i, 1)), "Move down") : null,
        button("Unpin", () => act("Unpinned.", () => savePins(state.pins.filter((id) => id !== s.id))))))));
    if (!stories.length) $("pins").append(el("li", { className: "empty", textContent: "No pins: the model fills the list." }));
    $("blocks").replaceChildren(...listing.blocks.map((b) => el("li", {},
      el("span", { textContent: b.story_title || b.story_id }),
      inactive(b.active),
      button("Unblock", () => act("Unblocked.", () => api("DELETE", `/v1/admin/overrides/blocks?article_id=${
        enc(b.article_id)}&story_id=${enc(b.story_id)}&both_ways=${$("both-ways").checked}`))))));
    if (!listing.blocks.length) $("blocks").append(el("li", { className: "empty", textContent: "None." }));
    $("exclusions").replaceChildren(...listing.exclusions.map((x) => el("li", {},
      el("span", { textContent: x.title || x.story_id }),
      inactive(x.active),
      button("Include", () => act("Included again.", () => api("DELETE",
        `/v1/admin/overrides/exclusions/${enc(x.story_id)}`))))));
    if (!listing.exclusions.length) $("exclusions").append(el("li", { className: "empty", textContent: "None." }));
  }

  async function refresh() {
    const [listing] = await Promise.all([
      api("GET", `/v1/admin/overrides?article_id=${enc(state.article)}`), loadList(), loadAll()]);
    renderOverrides(listing);
  }

  function inactive(active, reason) {
    return active ? null : el("span", { className: "badge inactive", textContent: `inactive${reason ? `: ${reason}` : ""}` });
  }

  async function loadAll() {
    const all = await api("GET", "/v1/admin/overrides");
    $("all-revision").textContent = `revision ${all.revision}`;
    const pageLink = (id, title) => (title ? button(title, () => open(id).catch((e) => say(e.message, true)), "Open")
      : el("code", { textContent: id }));
    const items = [
      ...all.pins.map((p) => el("li", {}, "Pins under ", pageLink(p.article_id, p.title), inactive(p.title !== null,
        "article_not_in_model"), el("span", { textContent: `: ${p.stories.map((s) => s.title || s.id).join(", ")}` }),
        ...p.stories.filter((s) => !s.active).map((s) => inactive(false, `${s.id} ${s.inactive_reason}`)))),
      ...all.blocks.map((b) => el("li", {}, `${b.story_title || b.story_id} never under `, el("code", {
        textContent: b.article_id }), inactive(b.active))),
      ...all.exclusions.map((x) => el("li", {}, `Excluded everywhere: ${x.title || x.story_id}`,
        x.reason ? ` (${x.reason})` : "", inactive(x.active))),
    ];
    $("all-overrides").replaceChildren(...items);
    if (!items.length) $("all-overrides").append(el("li", { className: "empty", textContent: "None yet." }));
  }

  async function open(id) {
    const { article } = await api("GET", `/v1/articles/${enc(id)}`);
    state.article = id;
    $("article").hidden = false;
    $("article-title").textContent = article.title;
    $("article-meta").replaceChildren(el("code", { textContent: article.id }),
      ` · ${day(article.published_at)} · ${article.category || "no category"}`,
      web(article.url) ? el("span", {}, " · ", el("a", { href: article.url, textContent: "view", target: "_blank",
        rel: "noopener" })) : null);
    $("pin-results").replaceChildren();
    say("");
    await refresh();
    $("article").scrollIntoView({ block: "start" });
  }

  async function search(query, list, pick, label) {
    const { results } = await api("GET", `/v1/admin/search?q=${enc(query)}&limit=20`);
    list.replaceChildren(...results.map((r) => el("li", {},
      button(label, () => pick(r.id)),
      el("span", { textContent: ` ${r.title} ` }), el("small", { textContent: day(r.published_at) }))));
    if (!results.length) list.append(el("li", { className: "empty", textContent: "No title matches." }));
  }

  loadAll().catch((e) => say(e.message, true));
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search($("search").value, $("search-results"), (id) => open(id).catch((e) => say(e.message, true)), "Open")
      .catch((e) => say(e.message, true));
  });
  $("pin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search($("pin-search").value, $("pin-results"),
      (id) => act("Pinned.", () => savePins([...state.pins, id])), "Pin").catch((e) => say(e.message, true));
  });
  $("options-form").addEventListener("input", () => loadList().catch((e) => say(e.message, true)));
  $("options-form").addEventListener("reset", () => setTimeout(() => loadList().catch((e) => say(e.message, true))));
  $("draft-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      const body = await api("POST", "/v1/related", { title: form.get("title"), body: form.get("body"), explain: true });
      $("draft-results").replaceChildren(...body.related.map((item) => storyLine(item, null)));
      if (!body.related.length) $("draft-results").append(el("li", { textContent: "Nothing related yet." }));
    } catch (error) {
      $("draft-results").replaceChildren(el("li", { className: "error", textContent: error.message }));
    }
  });
})();
