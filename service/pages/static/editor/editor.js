// The editor page: find an article, see its list as readers will (with readers' figures and the model's reasons
// in plain words), pin / reorder / block / exclude (the last two after a confirmation with a reason, kept in the
// change log). Talks to the public API (lists, drafts) and /v1/admin (overrides, search, figures, changes) with
// the session cookie; every change sends the page's CSRF token. Data is put in the page as text, never as HTML.
(() => {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const state = { article: null, title: "", pins: [] };
  const STATS_DAYS = 30;
  const VERBS = { pin: "pinned", unpin: "unpinned all under", block: "blocked", unblock: "unblocked",
    exclude: "excluded everywhere", include: "included again" };

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
  const count = (n) => n.toLocaleString("en");
  const strength = (score) => (score >= 0.4 ? "strong match" : score >= 0.2 ? "good match" : "weak match");
  const SOURCES = { pinned: "pinned", model: "suggested", recent: "latest", popular: "most read" };

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

  // The model's reasons in an editor's words: the words both stories use most, shared tags, the same section.
  function explanation(item) {
    const e = item.explanation;
    if (!e) return null;
    const reasons = [];
    const words = e.terms.filter((t) => t.contribution > 0).slice(0, 5).map((t) => t.term);
    if (words.length) reasons.push(`shares: ${words.join(", ")}`);
    if (e.shared_tags.length) reasons.push(`same tags: ${e.shared_tags.join(", ")}`);
    if (e.same_category) reasons.push("same section");
    if (e.semantic > 0.02) reasons.push("a similar subject overall");
    return el("p", { className: "why", textContent: `Why: ${reasons.join(" · ") || "only a faint likeness"}` });
  }

  function storyLine(item, actions) {
    const link = web(item.url) ? el("a", { href: item.url, textContent: item.title, target: "_blank", rel: "noopener" })
      : el("span", { textContent: item.title });
    const badge = el("span", { className: `badge ${item.source}`, textContent: SOURCES[item.source] || item.source });
    const how = item.source === "model" ? ` ${strength(item.score)} · ` : " ";
    const meta = el("p", { className: "meta" }, badge, `${how}${day(item.published_at)} · `,
      el("span", { className: "figures", textContent: "readers: …" }), " · ", el("code", { textContent: item.id }));
    meta.querySelector(".figures").dataset.id = item.id;
    return el("li", { className: item.source === "pinned" ? "pinned" : "" }, link, meta, explanation(item),
      actions ? el("div", { className: "actions" }, ...actions) : null);
  }

  // Impressions, clicks and click-through rate of the stories listed in `list`, from the reader events.
  async function showFigures(list) {
    const spans = [...list.querySelectorAll(".figures")];
    if (!spans.length) return;
    const ids = [...new Set(spans.map((s) => s.dataset.id))];
    const { stories } = await api("GET", `/v1/admin/story-stats?days=${STATS_DAYS}&ids=${ids.map(enc).join(",")}`);
    for (const span of spans) {
      const f = stories[span.dataset.id];
      span.textContent = f.impressions ? `shown ${count(f.impressions)}× · ${count(f.clicks)} click${
        f.clicks === 1 ? "" : "s"} · `
        + `CTR ${(100 * f.ctr).toFixed(1)}% (${STATS_DAYS} days)` : `not shown in ${STATS_DAYS} days`;
    }
  }

  // A modal question with a required reason; resolves to the reason, or null when the editor cancels.
  function confirmWithReason(title, text, action) {
    return new Promise((resolve) => {
      const dialog = $("confirm");
      $("confirm-title").textContent = title;
      $("confirm-text").textContent = text;
      $("confirm-ok").textContent = action;
      $("confirm-reason").value = "";
      const done = (value) => {
        dialog.close();
        resolve(value);
      };
      $("confirm-form").onsubmit = (event) => {
        event.preventDefault();
        done($("confirm-reason").value.trim());
      };
      $("confirm-cancel").onclick = () => done(null);
      dialog.oncancel = (event) => {
        event.preventDefault();
        done(null);
      };
      dialog.showModal();
    });
  }

  async function block(item) {
    const reason = await confirmWithReason("Block this story under this article?",
      `“${item.title}” will no longer appear under “${state.title}”${$("both-ways").checked
        ? ", nor this article under it" : ""}. Other lists keep it.`, "Block");
    if (reason === null) return;
    await act("Blocked.", () => api("POST", "/v1/admin/overrides/blocks",
      { article_id: state.article, story_id: item.id, both_ways: $("both-ways").checked, reason }));
  }

  async function exclude(item) {
    const reason = await confirmWithReason("Exclude this story from every list?",
      `“${item.title}” will not appear in any related list on the site (its own page keeps its list).`,
      "Exclude everywhere");
    if (reason === null) return;
    await act("Excluded everywhere.", () => api("POST", "/v1/admin/overrides/exclusions", { story_id: item.id, reason }));
  }

  async function loadList() {
    const params = trialOptions();
    const trial = params.toString() !== "";
    params.set("explain", "true");
    const body = await api("GET", `/v1/articles/${enc(state.article)}/related?${params}`);
    $("list-note").textContent = trial ? "with the options above (not saved)" : "as the site shows it";
    $("related").replaceChildren(...body.related.map((item) => storyLine(item, [
      item.source === "model" ? button("Pin", () => act("Pinned.", () => savePins([...state.pins, item.id]))) : null,
      button("Block", () => block(item), "Never show it under this article"),
      button("Exclude", () => exclude(item), "Never show it in any list"),
    ])));
    if (!body.related.length) $("related").append(el("li", { textContent: "No related stories." }));
    await showFigures($("related"));
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
    const [all, changes] = await Promise.all([api("GET", "/v1/admin/overrides"),
      api("GET", "/v1/admin/overrides/audit?limit=15")]);
    renderChanges(changes.entries);
    $("all-revision").textContent = `revision ${all.revision}`;
    const pageLink = (id, title) => (title ? button(title, () => open(id).catch((e) => say(e.message, true)), "Open")
      : el("code", { textContent: id }));
    const items = [
      ...all.pins.map((p) => el("li", {}, "Pins under ", pageLink(p.article_id, p.title), inactive(p.title !== null,
        "article_not_in_model"), el("span", { textContent: `: ${p.stories.map((s) => s.title || s.id).join(", ")}` }),
        ...p.stories.filter((s) => !s.active).map((s) => inactive(false, `${s.id} ${s.inactive_reason}`)))),
      ...all.blocks.map((b) => el("li", {}, `${b.story_title || b.story_id} never under `,
        pageLink(b.article_id, b.article_title), inactive(b.active))),
      ...all.exclusions.map((x) => el("li", {}, `Excluded everywhere: ${x.title || x.story_id}`,
        x.reason ? ` (${x.reason})` : "", inactive(x.active))),
    ];
    $("all-overrides").replaceChildren(...items);
    if (!items.length) $("all-overrides").append(el("li", { className: "empty", textContent: "None yet." }));
  }

  // Who changed what, newest first: the change log every editor shares.
  function renderChanges(entries) {
    $("changes").replaceChildren(...entries.map((e) => el("li", {},
      el("time", { dateTime: e.changed_at, textContent: e.changed_at.replace("T", " ").slice(0, 16) }),
      el("strong", { textContent: ` ${e.actor.replace(/^(editor|api):/, "")} ` }),
      `${VERBS[e.action] || e.action} `, el("code", { textContent: e.story_ids.join(", ") || e.article_id }),
      e.article_id && e.story_ids.length ? el("span", {}, " under ", el("code", { textContent: e.article_id })) : null,
      e.detail ? el("span", { className: "reason", textContent: ` — ${e.detail}` }) : null)));
    if (!entries.length) $("changes").append(el("li", { className: "empty", textContent: "No changes yet." }));
  }

  async function open(id) {
    const { article } = await api("GET", `/v1/articles/${enc(id)}`);
    state.article = id;
    state.title = article.title;
    $("article").hidden = false;
    $("article-title").textContent = article.title;
    const view = web(article.url) ? el("span", {}, " · ", el("a", { href: article.url, textContent: "view",
      target: "_blank", rel: "noopener" })) : null;
    $("article-meta").replaceChildren(...[el("code", { textContent: article.id }),
      ` · ${day(article.published_at)} · ${article.category || "no section"}`, view].filter((part) => part !== null));
    $("pin-results").replaceChildren();
    say("");
    await refresh();
    $("article").scrollIntoView({ block: "start" });
  }

  // Title search; `refusal(id)` names why a result cannot be picked (already pinned, the article itself), if so.
  async function search(query, list, pick, label, refusal) {
    const { results } = await api("GET", `/v1/admin/search?q=${enc(query)}&limit=20`);
    list.replaceChildren(...results.map((r) => {
      const why = refusal ? refusal(r.id) : null;
      const action = why ? el("button", { type: "button", textContent: why, disabled: true })
        : button(label, () => pick(r.id), `${label}: ${r.title}`);
      return el("li", {}, action, el("span", { textContent: ` ${r.title} ` }),
        el("small", { textContent: day(r.published_at) }));
    }));
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
    const pin = (id) => act("Pinned.", () => savePins([...state.pins, id])).then(() => $("pin-form").requestSubmit());
    search($("pin-search").value, $("pin-results"), pin, "Pin",
      (id) => (state.pins.includes(id) ? "Pinned" : id === state.article ? "This article" : null))
      .catch((e) => say(e.message, true));
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
      await showFigures($("draft-results"));
    } catch (error) {
      $("draft-results").replaceChildren(el("li", { className: "error", textContent: error.message }));
    }
  });
})();
