"""The base of the app's main screens: installed once, then shown again and again.

Each time a screen is shown, Textual re-applies the stylesheet to every widget in it, which also
throws away every widget's rendered lines, so the loss plot, the tables and the footer are all
drawn from scratch: about three quarters of a screen switch here (45 ms of the UI thread per
switch on a slow two-core machine, 16 ms without). A hidden screen's styles can only go stale if
the app's own styling changed meanwhile (theme, CSS, the app's classes, focus or dark mode), so a
screen shown again skips the restyle unless one of those changed since it was last styled. The
app counts its CSS refreshes in `styling_generation` (SlmtuiApp overrides Textual's public
`refresh_css`), so no Textual internals are read.
"""

from __future__ import annotations

from textual import events
from textual.screen import Screen


def app_styling(screen: Screen) -> tuple | None:
    """What a hidden screen's styles depend on outside it; None if it cannot be told."""
    app = screen.app
    generation = getattr(app, "styling_generation", None)
    if generation is None:
        return None
    pseudo = frozenset(app.get_pseudo_classes())
    return generation, app.theme, app.ansi_theme, frozenset(app.classes), pseudo


class KeptScreen(Screen):
    _styled_for: tuple | None = None

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Runs before Textual's own resume handler (subclass handlers come first).
        styling = app_styling(self)
        if styling is not None and styling == self._styled_for:
            event.refresh_styles = False
        self._styled_for = styling
