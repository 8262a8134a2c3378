# Colab only: install the kit and turn on Colab's widget manager. Does nothing anywhere else.
import sys

if "google.colab" in sys.modules:
    import subprocess

    KIT_SOURCE = "git+https://github.com/cltoolkit/cltoolkit"  # pyproject.toml's [project.urls] Source
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", KIT_SOURCE], capture_output=True, text=True)
    if pip.returncode != 0:
        raise SystemExit(
            f"Could not install the kit from {KIT_SOURCE}; pip said:\n{pip.stderr.strip()[-1500:]}\n"
            "Check that the runtime is online (Runtime > Disconnect and delete runtime), then run this cell again."
        )
    from google.colab import output

    output.enable_custom_widget_manager()
