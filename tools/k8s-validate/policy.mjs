// The plugin's deployment rules, checked on every rendered manifest so that
// no component or edit quietly widens its privileges. checkPolicy(obj)
// returns a list of error strings (empty: the object follows the rules).

const kPluginName = "hailo-device-plugin";
const kResource = "hailo.ai/npu";

// Host paths the daemon may mount, with how, and the flag that must point
// at the mount when it is not mounted at the same path.
const kHostPaths = {
  "/var/lib/kubelet/device-plugins": { readOnly: false, flag: "--kubelet-dir" },
  "/var/run/cdi": { readOnly: false, flag: "--cdi-dir", type: "DirectoryOrCreate" },
  "/dev": { readOnly: true, flag: "--dev-root" },
  "/sys": { readOnly: true, flag: "--sys-root" },
  // node-feature-discovery's local feature files (the nfd-labels component).
  "/etc/kubernetes/node-feature-discovery/features.d": {
    readOnly: false, type: "DirectoryOrCreate", optional: true,
  },
};

function flagValue(container, flag) {
  const args = [...(container.command ?? []), ...(container.args ?? [])];
  for (const [i, arg] of args.entries()) {
    if (arg.startsWith(`${flag}=`)) return arg.slice(flag.length + 1);
    if (arg === flag) return args[i + 1];
  }
  const env = `HAILO_DP_${flag.slice(2).toUpperCase().replaceAll("-", "_")}`;
  return container.env?.find((e) => e.name === env)?.value;
}

function checkContainerSecurity(c, podSc, errors) {
  const sc = c.securityContext ?? {};
  const where = `container ${c.name}`;
  if (sc.privileged === true) errors.push(`${where}: privileged`);
  if (sc.allowPrivilegeEscalation !== false) {
    errors.push(`${where}: allowPrivilegeEscalation must be false`);
  }
  if (sc.readOnlyRootFilesystem !== true) {
    errors.push(`${where}: readOnlyRootFilesystem must be true`);
  }
  if (!(sc.capabilities?.drop ?? []).includes("ALL")) {
    errors.push(`${where}: capabilities must drop ALL`);
  }
  if ((sc.capabilities?.add ?? []).length > 0) {
    errors.push(`${where}: adds capabilities ${sc.capabilities.add.join(",")}`);
  }
  const seccomp = sc.seccompProfile?.type ?? podSc.seccompProfile?.type;
  if (seccomp !== "RuntimeDefault") errors.push(`${where}: seccomp must be RuntimeDefault`);
}

function checkProbesAndResources(c, errors) {
  const where = `container ${c.name}`;
  if (c.livenessProbe?.httpGet?.path !== "/healthz") {
    errors.push(`${where}: livenessProbe must GET /healthz`);
  }
  if (c.readinessProbe?.httpGet?.path !== "/readyz") {
    errors.push(`${where}: readinessProbe must GET /readyz`);
  }
  for (const key of ["requests.cpu", "requests.memory", "limits.memory"]) {
    const [kind, res] = key.split(".");
    if (c.resources?.[kind]?.[res] === undefined) errors.push(`${where}: no resources.${key}`);
  }
}

function checkHostPaths(spec, c, errors) {
  const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
  const seen = new Set();
  for (const v of volumes.values()) {
    if (!v.hostPath) continue;
    const rule = kHostPaths[v.hostPath.path];
    if (!rule) {
      errors.push(`volume ${v.name}: hostPath ${v.hostPath.path} is not allowed`);
      continue;
    }
    if (rule.type && v.hostPath.type !== rule.type) {
      errors.push(`volume ${v.name}: hostPath type must be ${rule.type}`);
    }
    const mount = (c.volumeMounts ?? []).find((m) => m.name === v.name);
    if (!mount) continue;
    seen.add(v.hostPath.path);
    if (rule.readOnly && mount.readOnly !== true) {
      errors.push(`mount ${mount.mountPath}: host ${v.hostPath.path} must be read-only`);
    }
    const flag = rule.flag ? flagValue(c, rule.flag) : undefined;
    const expected = flag ?? v.hostPath.path;
    if (mount.mountPath !== expected) {
      errors.push(`mount of ${v.hostPath.path} at ${mount.mountPath}, but ${rule.flag} ` +
        `is ${expected}`);
    }
  }
  for (const path of Object.keys(kHostPaths)) {
    if (!seen.has(path) && !kHostPaths[path].optional) {
      errors.push(`host ${path} is not mounted`);
    }
  }
}

function checkDaemonSet(ds) {
  const errors = [];
  const spec = ds.spec.template.spec;
  const update = ds.spec.updateStrategy ?? {};
  if (update.type !== "RollingUpdate" || ![0, "0", "0%"].includes(update.rollingUpdate?.maxSurge)) {
    errors.push("updateStrategy must be RollingUpdate with maxSurge 0");
  }
  for (const key of ["hostNetwork", "hostPID", "hostIPC"]) {
    if (spec[key] === true) errors.push(`${key} must not be true`);
  }
  if (spec.priorityClassName !== "system-node-critical") {
    errors.push("priorityClassName must be system-node-critical");
  }
  if ((spec.tolerations ?? []).length === 0) errors.push("no tolerations");
  if (spec.automountServiceAccountToken !== false) {
    errors.push("automountServiceAccountToken must be false (no API access needed)");
  }
  const container = spec.containers.find((c) => c.name === kPluginName);
  if (!container) return [...errors, `no container named ${kPluginName}`];
  checkContainerSecurity(container, spec.securityContext ?? {}, errors);
  checkProbesAndResources(container, errors);
  checkHostPaths(spec, container, errors);
  return errors;
}

function checkPod(pod) {
  const errors = [];
  const containers = pod.spec.containers ?? [];
  if (!containers.some((c) => c.resources?.limits?.[kResource] !== undefined)) {
    errors.push(`no container has a ${kResource} limit`);
  }
  for (const c of containers) {
    if (c.securityContext?.privileged === true) {
      errors.push(`container ${c.name}: privileged (the plugin makes that needless)`);
    }
  }
  return errors;
}

export function checkPolicy(obj) {
  if (obj.kind === "DaemonSet" && obj.metadata?.name === kPluginName) return checkDaemonSet(obj);
  if (obj.kind === "Pod") return checkPod(obj);
  return [];
}
