-- The site's submission rule, as MeluXina enforces it through its
-- accounting database (not running here: no slurmdbd): a job on the `cpu`
-- or `gpu` partition must name its project (--account) and its QoS
-- (--qos). Without the database neither is checked against a list: any
-- non-empty value passes (Slurm keeps the account; the QoS is accepted
-- and not recorded). Installed as /etc/slurm/job_submit.lua by
-- scripts/setup-slurm.sh (JobSubmitPlugins=lua). Jobs on other partitions
-- (the tests' default `debug`) pass unchanged. Steps (srun inside an
-- allocation) never come here.

local SITE_PARTITIONS = { cpu = true, gpu = true }

local function empty(v)
  return v == nil or v == ""
end

function slurm_job_submit(job_desc, part_list, submit_uid)
  local part = job_desc.partition
  if empty(part) then
    return slurm.SUCCESS
  end
  for p in string.gmatch(part, "[^,]+") do
    if SITE_PARTITIONS[p] then
      local missing = {}
      if empty(job_desc.account) then
        table.insert(missing, "--account")
      end
      if empty(job_desc.qos) then
        table.insert(missing, "--qos")
      end
      if #missing > 0 then
        slurm.log_user("aifbench-site: jobs on partition %s need --account=<project> and --qos=<qos> (missing: %s)",
          p, table.concat(missing, " "))
        return slurm.ERROR
      end
    end
  end
  return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
  return slurm.SUCCESS
end

return slurm.SUCCESS
