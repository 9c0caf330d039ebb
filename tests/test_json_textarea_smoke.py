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
            # Highlighting seen as a person sees it: the first line's characters drawn in several colours.
            strip = area.render_line(0)
            colours = {seg.style.color for seg in strip if seg.text.strip() and seg.style and seg.style.color}
            print("colours", len(colours))

    asyncio.run(main())
    """
)


def test_json_text_area_builds_and_highlights() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    colours = int(result.stdout.split("colours")[1].split()[0])
    assert colours >= 2, "the JSON is drawn in one colour: tree-sitter highlighting is not working"
