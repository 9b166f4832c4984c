"""Starting and growing a project: the files `pedigree init` and `pedigree stage add` write,
written only where nothing exists yet, and the stage entry added to a spec's text."""
