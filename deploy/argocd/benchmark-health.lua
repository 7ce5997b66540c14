-- Argo CD health check for aifbench.io/Benchmark.
-- Install: resource.customizations.health.aifbench.io_Benchmark in argocd-cm
-- (see deploy/argocd/argocd-cm-patch.yaml and docs/operator.md).
--
-- A Benchmark runs once per spec generation: it is Healthy once that run
-- Succeeded, Degraded if it Failed, Suspended if it was Cancelled, and
-- Progressing while it runs or before the operator has seen the generation.
hs = {}
if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the aifbench operator"
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= nil and obj.status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Spec changed: a new run is starting"
  return hs
end
local phase = obj.status.phase
local message = obj.status.message
if message == nil then
  message = phase
end
if phase == "Succeeded" then
  hs.status = "Healthy"
elseif phase == "Failed" then
  hs.status = "Degraded"
elseif phase == "Cancelled" then
  hs.status = "Suspended"
else
  hs.status = "Progressing"
end
hs.message = message
return hs
