"""Guard: tree-sitter 0.26.1 segfaults on a JSON TextArea; the pinned version must not.

Runs in a subprocess so that a segfault fails this test with its signal instead of killing pytest.
"""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio
    from textual.app import App
    from textual.widgets import TextArea

    class Smoke(App):
        def compose(self):
            yield TextArea.code_editor('{"enabled": true, "tags": ["a", 1, null]}', language="json")

    async def main():
        app = Smoke()
        async with app.run_test(size=(60, 10)) as pilot:
            area = app.query_one(TextArea)
            area.insert(', "x": {"y": [1.5]}', (0, 40))
            await pilot.pause()
            assert area.language == "json", area.language
            assert "json" in area.available_languages
            # Highlighting as a person sees it: a key and a literal of the first line drawn in different colours.
            strip = list(area.render_line(0))
            colour_of = lambda word: next(str(s.style.color) for s in strip if word in s.text)
            print("key-and-literal-differ", colour_of("enabled") != colour_of("true"))

    asyncio.run(main())
    """
)


def test_json_text_area_builds_and_highlights() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "key-and-literal-differ True" in result.stdout, \
        f"the JSON is drawn in one colour: tree-sitter highlighting is not working\n{result.stdout}"
