-- Argo CD health check for every bulwark.dev kind: BrokerCluster, User, Role, AccessToken,
-- TopicGrant and Topic. Their status follows the kstatus conventions (src/api/common.ts):
-- status.observedGeneration, and conditions Ready, Reconciling and Stalled, each carrying the
-- generation it was computed from. The rules, in order:
--   1. no status, or status.observedGeneration missing or behind metadata.generation: the
--      operator has not acted on this spec yet -> Progressing
--   2. Stalled True: the operator cannot carry the spec out without a change -> Degraded
--   3. Reconciling True: the operator is working on it -> Progressing
--   4. Ready True, computed from the current generation -> Healthy
--   5. Ready False (or Unknown), no Ready, or a Ready from an older generation -> Progressing.
--      Not Degraded: every reason the operator puts on Ready=False comes with Reconciling or
--      Stalled True, so a Ready=False alone is a moment between two writes, and kstatus (Flux)
--      calls it InProgress too.
-- Argo CD runs custom checks in gopher-lua without the string library (only base, table, package
-- and a safe os), so this script uses only the base library and the `..` operator.
-- docs/gitops.md installs it; scripts/lib/argocd-health.ts turns it into gitops/argocd/argocd-cm.yaml.

local function findCondition(conditions, conditionType)
  if type(conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(conditions) do
    if type(c) == "table" and c.type == conditionType then
      return c
    end
  end
  return nil
end

local function text(value)
  if value == nil then
    return ""
  end
  return tostring(value)
end

local function reasonAndMessage(c)
  local reason = text(c.reason)
  local message = text(c.message)
  if reason == "" then
    return message
  end
  if message == "" then
    return reason
  end
  return reason .. ": " .. message
end

local hs = {}
local generation = nil
if type(obj.metadata) == "table" then
  generation = obj.metadata.generation
end
local status = obj.status

local function waiting()
  hs.status = "Progressing"
  if generation == nil then
    hs.message = "waiting for the operator to write a status"
  else
    hs.message = "waiting for the operator to observe generation " .. text(generation)
  end
  return hs
end

if type(status) ~= "table" or type(status.observedGeneration) ~= "number" then
  return waiting()
end
if type(generation) == "number" and status.observedGeneration < generation then
  return waiting()
end

local stalled = findCondition(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = reasonAndMessage(stalled)
  return hs
end

local reconciling = findCondition(status.conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = text(reconciling.message)
  return hs
end

local ready = findCondition(status.conditions, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the Ready condition"
  return hs
end
if type(generation) == "number" and type(ready.observedGeneration) == "number" and ready.observedGeneration < generation then
  return waiting()
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready.message)
  return hs
end
hs.status = "Progressing"
hs.message = reasonAndMessage(ready)
return hs
