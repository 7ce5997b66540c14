-- aifbench test site: the Apptainer module. Puts scripts/site/bin's
-- stand-in `apptainer` (which records its argv and runs what the container
-- would run) on PATH: the only way a job reaches it.
help([[The aifbench test site's stand-in for Apptainer 1.2.4 (no container runtime).]])
local site = myFileName():match("^(.*)/release/[^/]*/Apptainer/[^/]*$")
prepend_path("PATH", pathJoin(site, "bin"))
setenv("AIFB_SITE_APPTAINER", myModuleVersion())
