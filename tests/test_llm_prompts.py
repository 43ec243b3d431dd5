"""Prompt templates: rendering into chat messages, strictness, and the version hash stages depend on."""

from __future__ import annotations

import pytest

from paper_autotrain.errors import StageError
from paper_autotrain.llm import PROMPTS_DIR, prompts_version, render_prompt

ECHO = """{# a test prompt #}
{% block system %}
You are {{ role }}.
{% endblock %}
{% block user %}
Name: {{ name }}
{% for item in items %}
- {{ item }}
{% endfor %}
{% endblock %}
"""


@pytest.fixture
def prompts(tmp_path):
    (tmp_path / "echo.j2").write_text(ECHO)
    return tmp_path


def test_a_prompt_renders_into_system_and_user_messages(prompts):
    messages = render_prompt("echo", prompts_dir=prompts, role="a careful reader", name="LightGCN",
                             items=["<a>", "b"])
    assert messages == [{"role": "system", "content": "You are a careful reader."},
                        {"role": "user", "content": "Name: LightGCN\n- <a>\n- b"}]


def test_a_prompt_without_system_part_gives_only_the_user_message(prompts):
    (prompts / "bare.j2").write_text("{% block user %}Just {{ x }}.{% endblock %}")
    assert render_prompt("bare", prompts_dir=prompts, x=1) == [{"role": "user", "content": "Just 1."}]


def test_inherited_blocks_are_rendered(prompts):
    (prompts / "_base.j2").write_text("{% block system %}Shared rules.{% endblock %}{% block user %}{% endblock %}")
    (prompts / "child.j2").write_text('{% extends "_base.j2" %}{% block user %}Ask {{ q }}{% endblock %}')
    assert render_prompt("child", prompts_dir=prompts, q="this") == [
        {"role": "system", "content": "Shared rules."}, {"role": "user", "content": "Ask this"}]


@pytest.mark.parametrize(("template", "words"), [
    (None, "prompt 'missing': no template missing.j2 in "),
    ("{% block user %}{{ undefined_thing }}{% endblock %}", "'undefined_thing' is undefined"),
    ("{% block system %}only a system part{% endblock %}", "renders no user part"),
    ("{% block user %}{% if %}{% endblock %}", "prompt 'missing': "),
])
def test_prompt_mistakes_are_one_line_stage_errors(prompts, template, words):
    if template is not None:
        (prompts / "missing.j2").write_text(template)
    with pytest.raises(StageError) as caught:
        render_prompt("missing", prompts_dir=prompts, role="r")
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_prompts_version_follows_the_templates_only(prompts):
    before = prompts_version(prompts)
    (prompts / "README.md").write_text("documentation does not change prompts")
    assert prompts_version(prompts) == before
    (prompts / "echo.j2").write_text(ECHO.replace("You are", "You are always"))
    assert prompts_version(prompts) != before
    (prompts / "sub").mkdir()
    (prompts / "sub" / "new.j2").write_text("{% block user %}x{% endblock %}")
    assert render_prompt("sub/new", prompts_dir=prompts) == [{"role": "user", "content": "x"}]


def test_an_edited_template_is_rendered_fresh(prompts):
    assert render_prompt("echo", prompts_dir=prompts, role="r", name="n", items=[])[0]["content"] == "You are r."
    (prompts / "echo.j2").write_text(ECHO.replace("You are", "Be"))
    assert render_prompt("echo", prompts_dir=prompts, role="r", name="n", items=[])[0]["content"] == "Be r."


def test_the_repository_prompts_folder_is_documented():
    assert (PROMPTS_DIR / "README.md").is_file()
    assert len(prompts_version()) == 64
