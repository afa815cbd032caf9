"""The Train screen's loss plot, drawn on a worker thread.

PlotextPlot builds its figure inside `render`, on the UI thread, each time the plot is shown or
changed: 15-50 ms here for a 120x25 plot (plotext's build, then parsing its ANSI output). Showing
the Train screen after new steps arrived paid that inside the key press (p95 75 ms while
training). Here the figure is built on a thread with the same plotext calls and `render` returns
the last one built, so a redraw never waits for plotext; a new figure is shown a frame later.
"""

from __future__ import annotations

import threading

from rich.text import Text
from textual import work
from textual_plotext import PlotextPlot


class LossPlot(PlotextPlot):
    """Training and validation loss against the step; set them with `show_curves`."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._curves: tuple[list, list, list, list] = ([], [], [], [])
        self._version = 0  # of the curves
        self._shown: Text = Text("")
        self._shown_for: tuple | None = None  # (width, height, version, theme) of _shown
        self._wanted: tuple | None = None  # the figure being built
        self._plotext = threading.Lock()  # the Plot object is used by one thread at a time

    def show_curves(self, steps: list, losses: list, val_steps: list, val_losses: list) -> None:
        """New curves (copied: the caller's lists go on growing)."""
        self._curves = (list(steps), list(losses), list(val_steps), list(val_losses))
        self._version += 1
        self.refresh()

    @property
    def curves(self) -> tuple[list, list, list, list]:
        """Steps, losses, validation steps and validation losses last shown."""
        return self._curves

    def render(self) -> Text:
        wanted = (
            self.size.width,
            self.size.height,
            self._version,
            self._get_plotext_theme_name(self.app.theme),
        )
        if wanted != self._shown_for and wanted != self._wanted and self.size.area:
            self._wanted = wanted
            self._build(wanted, self._curves)
        return self._shown

    @work(thread=True, group="loss-plot", exit_on_error=False)
    def _build(self, wanted: tuple, curves: tuple[list, list, list, list]) -> None:
        width, height, _, theme = wanted
        steps, losses, val_steps, val_losses = curves
        with self._plotext:  # builds run one at a time, in the order they get the lock
            plt = self.plt
            plt.clear_data()
            plt.title("loss")
            plt.xlabel("step")
            if steps:
                plt.plot(steps, losses, label="train", marker="braille")
            if val_steps:
                plt.plot(val_steps, val_losses, label="validation", marker="dot")
            # What PlotextPlot.render does, off the UI thread.
            plt.plotsize(width, height)
            plt._set_size(width, height)
            plt.theme(theme)
            text = Text.from_ansi(plt.build())
        self.app.call_from_thread(self._built, wanted, text)

    def _built(self, wanted: tuple, text: Text) -> None:
        if self._wanted == wanted:
            self._wanted = None  # nothing on its way any more
        if self._shown_for is None or wanted[2] >= self._shown_for[2]:  # not older curves
            self._shown, self._shown_for = text, wanted
            self.refresh()
