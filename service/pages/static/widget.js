/*
 * Relatedly widget: related stories for <div data-relatedly-article="ID">, <div data-relatedly-url="URL">, or
 * <div data-relatedly> (the article is the page's <link rel="canonical">, else its og:url).
 *
 * One hand-written file, no dependencies, no eval, no inline styles: it works under a strict
 * Content-Security-Policy. It finds the API from its own URL, fetches a block's list when the block
 * comes within 200 px of the viewport, renders the same markup as GET /v1/articles/<id>/related.html,
 * and reports an impression (list half visible, once) and clicks (story and position) with
 * navigator.sendBeacon as text/plain, so no CORS preflight is needed. On any failure the block
 * stays empty and gets the `hidden` attribute; nothing is thrown or logged (unless the block has
 * data-relatedly-debug).
 *
 * The shipped look (widget.css, which the server writes into CSS below, as it writes widget-texts.json
 * into TEXTS) is adopted once per page as a constructed stylesheet, which a CSP without 'unsafe-inline'
 * allows; blocks with data-relatedly-style="none" are left to the site's own CSS. Dates and the default
 * heading follow the page's language (<html lang>, or the nearest lang attribute).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.src || !window.fetch || !window.JSON) {
    return;
  }
  var API = script.src.replace(/widget\.js([?#].*)?$/, "");
  var TIMEOUT_MS = 3000;
  var NEAR_MARGIN = "200px";
  var DEFAULT_LIMIT = "5";
  var DEFAULT_THUMBNAIL = [160, 90];
  var THUMBNAILS_OFF = ["false", "0", "no", "off"];
  var RANKING_OPTIONS = ["exclude", "min_score", "dedup", "max_age_days", "half_life_days", "diversity", "category",
                         "lang", "exclude_category", "fallback"];
  var LAYOUTS = ["list", "grid"];
  var CSS = "__RELATEDLY_CSS__";
  var TEXTS = {"__RELATEDLY_TEXTS__": 0};
  var styled = false;  // the shipped stylesheet is added once per page
  var shown = {};  // ids already on the page (other blocks' stories and articles): never repeated
  var queue = Promise.resolve();  // blocks load one after another so each knows what the others show

  function attr(el, name) {
    var value = el.getAttribute("data-relatedly-" + name);
    return value === null ? null : value.trim();
  }

  function debug(block, message) {
    if (block.hasAttribute("data-relatedly-debug") && window.console) {
      window.console.warn("relatedly: " + message);
    }
  }

  function randomId() {
    var bytes = new Uint8Array(8);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function requestUrl(block, limit) {
    var params = [["limit", limit]];
    var exclude = Object.keys(shown);
    RANKING_OPTIONS.forEach(function (name) {
      var value = attr(block, name.replace(/_/g, "-"));
      if (value === null || value === "") {
        return;
      }
      if (name === "exclude") {
        exclude = exclude.concat(value.split(","));
      } else {
        params.push([name, value]);
      }
    });
    if (exclude.length) {
      params.push(["exclude", exclude.filter(function (id) { return id.trim(); }).join(",")]);
    }
    var article = attr(block, "article");
    var path = article ? "articles/" + encodeURIComponent(article) + "/related" : "related";
    if (!article) {
      params.unshift(["url", attr(block, "url") || pageUrl()]);
    }
    return API + path + "?" + params.map(function (p) {
      return encodeURIComponent(p[0]) + "=" + encodeURIComponent(p[1]);
    }).join("&");
  }

  /* The page's own address for a block that names no article: its canonical link, else its og:url. */
  function pageUrl() {
    var canonical = document.querySelector('link[rel~="canonical"][href]');
    if (canonical && safeUrl(canonical.href)) {
      return canonical.href;
    }
    var og = document.querySelector('meta[property="og:url"][content]');
    var url = og ? og.getAttribute("content").trim() : "";
    if (!safeUrl(url)) {
      throw new Error("no article named, and no canonical link or og:url on the page");
    }
    return url;
  }

  /* The list's JSON, or a rejection on an HTTP error, a network error or after TIMEOUT_MS. */
  function fetchList(url) {
    var controller = window.AbortController ? new AbortController() : null;
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        if (controller) {
          controller.abort();
        }
        reject(new Error("timeout"));
      }, TIMEOUT_MS);
      fetch(url, {credentials: "omit", mode: "cors", signal: controller ? controller.signal : undefined})
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(resolve, reject)
        .then(function () { clearTimeout(timer); });
    });
  }

  function safeUrl(value) {
    return typeof value === "string" && /^https?:\/\//i.test(value) ? value : null;
  }

  function thumbnailSize(value) {
    var match = /^(\d{1,4})x(\d{1,4})$/.exec(value || "");
    return match ? [match[1], match[2]] : DEFAULT_THUMBNAIL.map(String);
  }

  /* The block's language: the nearest lang attribute (normally <html lang>), else English. */
  function languageOf(block) {
    var holder = block.closest ? block.closest("[lang]") : null;
    var lang = (holder || document.documentElement).getAttribute("lang");
    return lang && lang.trim() ? lang.trim() : "en";
  }

  /* The texts of `lang` ("de-AT" → "de"), English when there are none. */
  function textsOf(lang) {
    var tag = lang.toLowerCase();
    return TEXTS[tag] || TEXTS[tag.split("-")[0]] || TEXTS.en;
  }

  /* "9. Januar 2024" for a value starting YYYY-MM-DD, in the page's language; null for anything else. */
  function dateText(value, lang) {
    var match = /^(\d{4})-(\d{2})-(\d{2})/.exec(typeof value === "string" ? value : "");
    var month = match ? Number(match[2]) : 0;
    if (month < 1 || month > 12) {
      return null;
    }
    var day = new Date(Date.UTC(Number(match[1]), month - 1, Number(match[3])));
    var style = {day: "numeric", month: "long", year: "numeric", timeZone: "UTC"};
    try {
      return new Intl.DateTimeFormat(lang, style).format(day);
    } catch (badTag) {
      return new Intl.DateTimeFormat("en", style).format(day);
    }
  }

  function headingLevel(value) {
    return /^[2-6]$/.test(value || "") ? Number(value) : 2;
  }

  /* The shipped look, once per page: a constructed stylesheet (CSP-safe), else a link to widget.css. */
  function addStyles() {
    if (styled) {
      return;
    }
    styled = true;
    try {
      if (window.CSSStyleSheet && Array.isArray(document.adoptedStyleSheets)) {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
        return;
      }
    } catch (unsupported) {
      // an older browser: fall back to the stylesheet's URL
    }
    var link = document.createElement("link");
    link.setAttribute("rel", "stylesheet");
    link.setAttribute("href", API + "widget.css");
    document.head.appendChild(link);
  }

  function element(tag, className) {
    var el = document.createElement(tag);
    el.setAttribute("class", className);
    return el;
  }

  /* The stories worth showing: a string id and title and an http(s) link, each once. */
  function storiesOf(body) {
    var seen = {};
    var related = body && Array.isArray(body.related) ? body.related : [];
    return related.filter(function (item) {
      var ok = item && typeof item.id === "string" && typeof item.title === "string" && safeUrl(item.url)
        && !seen[item.id];
      if (ok) {
        seen[item.id] = true;
      }
      return ok;
    });
  }

  /* Same elements, attributes and order as service/templates/related.html. */
  function render(body, stories, options) {
    var listId = randomId();
    var fallback = body.fallback === "recent" || body.fallback === "popular" ? body.fallback : null;
    var aside = element("aside", "relatedly");
    aside.setAttribute("aria-labelledby", "relatedly-" + listId + "-heading");
    aside.setAttribute("data-relatedly-list", listId);
    aside.setAttribute("data-relatedly-for", body.article_id);
    aside.setAttribute("data-relatedly-model", body.model_version);
    aside.setAttribute("data-relatedly-layout", options.layout);
    if (options.unstyled) {
      aside.setAttribute("data-relatedly-style", "none");
    }
    if (fallback) {
      aside.setAttribute("data-relatedly-fallback", fallback);
    }
    if (typeof body.arm === "string") {
      aside.setAttribute("data-relatedly-arm", body.arm);
    }
    var heading = element("h" + options.level, "relatedly-heading");
    heading.setAttribute("id", "relatedly-" + listId + "-heading");
    heading.textContent = fallback ? options.texts[fallback] : options.heading || options.texts.related;
    var list = element("ul", "relatedly-list");
    stories.forEach(function (item, index) {
      var li = element("li", "relatedly-item");
      var link = element("a", "relatedly-link");
      link.setAttribute("href", safeUrl(item.url));
      link.setAttribute("data-relatedly-id", item.id);
      link.setAttribute("data-relatedly-position", String(index + 1));
      if (item.explored === true) {
        link.setAttribute("data-relatedly-explored", "true");
      }
      var image = options.thumbnail && safeUrl(item.image);
      if (image) {
        var img = element("img", "relatedly-image");
        img.setAttribute("src", image);
        img.setAttribute("width", options.thumbnail[0]);
        img.setAttribute("height", options.thumbnail[1]);
        img.setAttribute("alt", "");
        img.setAttribute("loading", "lazy");
        img.setAttribute("decoding", "async");
        link.appendChild(img);
      }
      var title = element("span", "relatedly-title");
      title.textContent = item.title;
      link.appendChild(title);
      var date = dateText(item.published_at, options.lang);
      if (date) {
        var time = element("time", "relatedly-date");
        time.setAttribute("datetime", item.published_at);
        time.textContent = date;
        link.appendChild(document.createTextNode(" "));
        link.appendChild(time);
      }
      li.appendChild(link);
      list.appendChild(li);
    });
    aside.appendChild(heading);
    aside.appendChild(list);
    return aside;
  }

  function send(event) {
    var body = JSON.stringify(event);
    var url = API + "events";
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(url, body)) {
        return;
      }
      fetch(url, {method: "POST", body: body, keepalive: true, mode: "no-cors", credentials: "omit",
                  headers: {"Content-Type": "text/plain"}}).catch(function () {});
    } catch (ignored) {
      // an event is never worth an error on the page
    }
  }

  /* Impression once the list is half visible, and a click event for every story followed. */
  function track(aside) {
    var links = aside.querySelectorAll("a.relatedly-link");
    var common = {
      list_id: randomId(),
      article_id: aside.getAttribute("data-relatedly-for"),
      model_version: aside.getAttribute("data-relatedly-model")
    };
    if (!links.length || !common.article_id || !common.model_version) {
      return;
    }
    if (aside.getAttribute("data-relatedly-arm")) {
      common.arm = aside.getAttribute("data-relatedly-arm");  // the experiment arm the list was served in
    }
    function event(type, fields) {
      var result = {type: type};
      Object.keys(common).forEach(function (key) { result[key] = common[key]; });
      Object.keys(fields).forEach(function (key) { result[key] = fields[key]; });
      return result;
    }
    var items = Array.prototype.map.call(links, function (a) { return a.getAttribute("data-relatedly-id"); });
    var explored = Array.prototype.filter.call(links, function (a) { return a.hasAttribute("data-relatedly-explored"); });
    var impressed = false;
    function impression() {
      if (!impressed) {
        impressed = true;
        var fields = {items: items};
        if (explored.length) {  // the slot filled from further down the candidate pool
          fields.explored = Number(explored[0].getAttribute("data-relatedly-position"));
        }
        send(event("impression", fields));
      }
    }
    if (window.IntersectionObserver) {
      var observer = new IntersectionObserver(function (entries) {
        if (entries.some(function (entry) { return entry.intersectionRatio >= 0.5; })) {
          observer.disconnect();
          impression();
        }
      }, {threshold: 0.5});
      observer.observe(aside.querySelector("ul") || aside);
    } else {
      impression();
    }
    function clicked(e) {
      var link = e.target && e.target.closest ? e.target.closest("a.relatedly-link") : null;
      if (link && (e.type === "click" || e.button === 1)) {
        impression();  // a click implies the list was seen
        var fields = {target: link.getAttribute("data-relatedly-id"),
                      position: Number(link.getAttribute("data-relatedly-position"))};
        if (link.hasAttribute("data-relatedly-explored")) {
          fields.explored = true;
        }
        send(event("click", fields));
      }
    }
    aside.addEventListener("click", clicked);
    aside.addEventListener("auxclick", clicked);
  }

  function load(block) {
    var limit = attr(block, "limit") || DEFAULT_LIMIT;
    var thumbnails = attr(block, "thumbnails");
    var lang = languageOf(block);
    var layout = attr(block, "layout");
    var options = {
      heading: attr(block, "heading"),
      level: headingLevel(attr(block, "heading-level")),
      lang: lang,
      texts: textsOf(lang),
      layout: LAYOUTS.indexOf(layout) >= 0 ? layout : "list",
      unstyled: attr(block, "style") === "none",
      thumbnail: thumbnails === null || THUMBNAILS_OFF.indexOf(thumbnails) >= 0 ? null : thumbnailSize(thumbnails)
    };
    if (!options.unstyled) {
      addStyles();
    }
    queue = queue.then(function () {
      return fetchList(requestUrl(block, limit)).then(function (body) {
        var stories = storiesOf(body);
        if (!stories.length || typeof body.article_id !== "string" || typeof body.model_version !== "string") {
          throw new Error("no stories");
        }
        var aside = render(body, stories, options);
        shown[body.article_id] = true;
        stories.forEach(function (item) { shown[item.id] = true; });
        block.appendChild(aside);
        track(aside);
      });
    }).catch(function (error) {
      block.setAttribute("hidden", "");
      debug(block, "block hidden: " + (error && error.message));
    });
  }

  function start() {
    var blocks = Array.prototype.filter.call(
      document.querySelectorAll("[data-relatedly], [data-relatedly-article], [data-relatedly-url]"),
      function (block) { return !block.hasAttribute("data-relatedly-loaded"); }
    );
    // server-rendered blocks (the HTML fragment) already on the page: count them, and never repeat their stories
    Array.prototype.forEach.call(document.querySelectorAll("aside.relatedly[data-relatedly-list]"), function (aside) {
      shown[aside.getAttribute("data-relatedly-for")] = true;
      Array.prototype.forEach.call(aside.querySelectorAll("a.relatedly-link"), function (link) {
        shown[link.getAttribute("data-relatedly-id")] = true;
      });
      track(aside);
    });
    blocks.forEach(function (block) {
      block.setAttribute("data-relatedly-loaded", "");
      var own = attr(block, "article");
      if (own) {
        shown[own] = true;
      }
    });
    if (!window.IntersectionObserver) {
      blocks.forEach(load);
      return;
    }
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) {
          observer.unobserve(entry.target);
          load(entry.target);
        }
      });
    }, {rootMargin: NEAR_MARGIN});
    blocks.forEach(function (block) { observer.observe(block); });
  }

  function safely() {
    try {
      start();
    } catch (ignored) {
      // never harm the host page
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", safely);
  } else {
    safely();
  }
})();
