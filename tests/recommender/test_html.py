"""HTML → text: block-aware layout, what is dropped, entities, shortcodes, and `auto` leaving plain text alone."""

from __future__ import annotations

import pytest

from recommender.sources.html import clean_field, html_to_text, looks_like_html


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("<h2>Title</h2>text", "Title\n\ntext"),
        ("<ul><li>alpha</li><li>beta</li></ul>", "alpha\nbeta"),
        ("<table><tr><td>cell</td><td>next</td></tr></table>", "cell\nnext"),
        ("line<br>break<br/>again", "line\nbreak\nagain"),
        ("inline <b>bold</b>, w<i>or</i>d and <a href='x'>links</a> as a browser shows them",
         "inline bold, word and links as a browser shows them"),
        ("keep<script>var x = 'code';</script><style>p {}</style><noscript>no</noscript> this", "keep this"),
        ("<iframe src='x'>frame</iframe><svg><text>vector</text></svg><template><p>t</p></template>ok", "ok"),
        ("<!-- wp:paragraph {\"align\":\"center\",\"a\":[1,2]} --><p>block</p><!-- /wp:paragraph -->", "block"),
        ("<!-- wp:latest-posts {\"postsToShow\":3} /-->after", "after"),
        ("intro<!--more-->rest<!--nextpage-->end", "intro rest end"),
        ("Caf&eacute; &amp; science", "Café & science"),
        ("Fish &amp;amp; chips &amp;#8220;quoted&amp;#8221;", "Fish & chips “quoted”"),
        ("a&nbsp;b\u00a0c \ufb01sh", "a b c fish"),
        ("bell\x07 and\x0b null\x00 gone", "bell and null gone"),
        ("<p>Caf\u00c3\u00a9 au lait</p>", "Café au lait"),
        ("<p>mis <b>nested <i>tags</b> here</i><div>unclosed", "mis nested tags here\n\nunclosed"),
        ("<img src='data:image/png;base64,AAAA'>text data:image/gif;base64,R0lGOD== more", "text more"),
        ("[caption id=\"a1\" width=\"300\"]<img src=\"x.jpg\"> A reef at dawn[/caption]", "A reef at dawn"),
        ("[caption caption=\"Old style caption\"]<img src=\"x.jpg\">[/caption]", "Old style caption"),
        ("before [gallery ids=\"1,2\"] after", "before after"),
        ("a [embed]https://vimeo.com/1[/embed] b [video src=\"v.mp4\"][/video] c", "a b c"),
        ("[vc_row][vc_column]Builder prose[/vc_column][/vc_row]", "Builder prose"),
        ("Write [[gallery]] for a gallery [sic]", "Write [gallery] for a gallery [sic]"),
        ("First paragraph\n\nhttps://www.youtube.com/watch?v=abc\n\nSecond", "First paragraph\n\nSecond"),
        ("classic line one\nline two\n\nnew paragraph", "classic line one line two\n\nnew paragraph"),
        ("<p>text</p><div class=\"sharedaddy sd-sharing-enabled\"><a href=\"#\">Share on X</a></div>", "text"),
    ],
)
def test_html_to_text(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


@pytest.mark.parametrize(
    ("text", "markup"),
    [
        ("plain words, AT&T and 3 < 4", False),
        ("email <someone@example.org> and a > b", False),
        ("<p>paragraph</p>", True),
        ("Caf&eacute;", True),
        ("a<br>b", True),
        ("<!-- wp:paragraph -->", True),
    ],
)
def test_looks_like_html(text: str, markup: bool) -> None:
    assert looks_like_html(text) is markup


def test_auto_leaves_plain_text_exactly_as_it_is() -> None:
    plain = "  Two  spaces,\nnew lines\n\nand AT&T < stays  "
    assert clean_field(plain, "auto") == plain
    assert clean_field("<b>x</b>", "text") == "<b>x</b>"
    assert clean_field("Caf&eacute;\n&amp; <i>science</i>", "auto", single_line=True) == "Café & science"


def test_a_huge_data_uri_costs_nothing_in_the_text() -> None:
    markup = "<p>before</p><img src=\"data:image/png;base64," + "A" * 2_000_000 + "\"><p>after</p>"
    assert html_to_text(markup) == "before\n\nafter"
