# NST Lab maintenance targets.
PYTHON ?= python3
NBSTRIPOUT_EXTRAKEYS = metadata.papermill cell.metadata.papermill metadata.colab.provenance

.PHONY: notebooks nbstripout

# Regenerate notebooks/*.ipynb from notebooks/build.py (parameters cell from nstlib.Config).
notebooks:
	$(PYTHON) notebooks/build.py

# Strip outputs (and papermill/Colab metadata) from *.ipynb on `git add`, via nbstripout's git filter.
nbstripout:
	git config filter.nbstripout.clean "$(PYTHON) -m nbstripout"
	git config filter.nbstripout.smudge cat
	git config filter.nbstripout.required true
	git config filter.nbstripout.extrakeys "$(NBSTRIPOUT_EXTRAKEYS)"
	@grep -qxF '*.ipynb filter=nbstripout' .gitattributes 2>/dev/null || echo '*.ipynb filter=nbstripout' >> .gitattributes
	@echo "nbstripout filter configured for *.ipynb (.gitattributes)"
