"""The OpenGL probe of ``oncoboard doctor``: can this machine draw the 3D view?

Run in a child process (``oncoboard doctor --gl-probe``) so that a driver crash cannot take the
caller down; VTK is imported here only, like everywhere else in the UI package.
"""

from __future__ import annotations

import os


def gl_probe() -> str:
    """Render a tiny VTK scene off screen and return the OpenGL renderer's name."""
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  registers the OpenGL back end
    from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow

    window = vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetSize(32, 32)
    window.AddRenderer(vtkRenderer())
    window.Render()
    caps = window.ReportCapabilities() or ""
    line = next((x for x in caps.splitlines() if "OpenGL renderer" in x), window.GetClassName())
    return line.split(":", 1)[-1].strip()
