-- aifbench test site: MeluXina's software release module. Loading it makes
-- the release's modules (Apptainer among them) visible, as on MeluXina.
help([[The aifbench test site's stand-in for MeluXina's env/release/2023.1.]])
local site = myFileName():match("^(.*)/modulefiles/env/release/[^/]*$")
prepend_path("MODULEPATH", pathJoin(site, "release", "2023.1"))
