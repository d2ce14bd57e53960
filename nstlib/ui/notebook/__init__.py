"""What the notebooks in notebooks/ call (`import nstlib.ui.notebook as nb`), by job:

- colab: set-up (device, precision, the Colab GPU hint);
- parameters: the parameters cell → Config, unknown papermill parameters refused;
- folders: the newest run or sweep folder, a run's panel and title;
- display: images, figures, loss curves, videos and tables inline;
- presentation: figures.ipynb's figures saved into a folder.

Figure 1 of the paper (reconstructions) is nstlib.ui.reconstructions. The notebooks stay thin (parameters, a
few calls, display); what they need lives here, so it is tested and shared.
"""

from nstlib.ui.notebook.colab import in_colab, setup
from nstlib.ui.notebook.display import (
    display,
    download_link,
    png_bytes,
    show_image,
    show_losses,
    show_result,
    show_table,
    show_video,
    to_uint8,
)
from nstlib.ui.notebook.folders import is_run_folder, is_sweep_folder, newest_folder, run_panel, run_title
from nstlib.ui.notebook.parameters import (
    OVERRIDES_SEPARATOR,
    check_parameters,
    config_from_parameters,
    overrides_list,
    parameter_value,
    parameters_begin,
    project_path,
)
from nstlib.ui.notebook.presentation import FIGURE_FORMATS, presentation_figures

__all__ = [
    "FIGURE_FORMATS",
    "OVERRIDES_SEPARATOR",
    "check_parameters",
    "config_from_parameters",
    "display",
    "download_link",
    "in_colab",
    "is_run_folder",
    "is_sweep_folder",
    "newest_folder",
    "overrides_list",
    "parameter_value",
    "parameters_begin",
    "png_bytes",
    "presentation_figures",
    "project_path",
    "run_panel",
    "run_title",
    "setup",
    "show_image",
    "show_losses",
    "show_result",
    "show_table",
    "show_video",
    "to_uint8",
]
