/** API group of every eiaas kind. */
export const GROUP = "eiaas.io";
/** The one served version. */
export const VERSION = "v1alpha1";
/** `apiVersion` of every eiaas object. */
export const API_VERSION = `${GROUP}/${VERSION}`;
/** Path prefix of the group-version. */
export const API_PREFIX = `/apis/${GROUP}/${VERSION}`;

/** Taint the node lifecycle controller puts on a node whose lease expired. */
export const TAINT_UNREACHABLE = "node.eiaas.io/unreachable";
/** Taint put on cordoned nodes, mirroring Kubernetes' node.kubernetes.io/unschedulable. */
export const TAINT_UNSCHEDULABLE = "node.eiaas.io/unschedulable";
/** Finalizer that keeps a Tenant visible until its namespace is emptied. */
export const TENANT_FINALIZER = "eiaas.io/namespace";

/**
 * Kubernetes' deletion-propagation finalizers (metav1.FinalizerDeleteDependents and
 * FinalizerOrphanDependents): a delete with `propagationPolicy: Foreground` marks the owner with the
 * first, which is lifted once its blocking dependents are gone; `Orphan` with the second, lifted
 * once its dependents no longer name it as owner.
 */
export const FOREGROUND_FINALIZER = "foregroundDeletion";
export const ORPHAN_FINALIZER = "orphan";
/** Annotation kubectl's client-side apply keeps the last applied configuration in. */
export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";
