// fakelet stands in for the kubelets of an EKS cluster that has no machines: it
// registers nodes labelled as EKS managed node groups label theirs, keeps every node
// in the cluster alive (its Lease in kube-node-lease and its Ready condition), marks
// the pods bound to a node Running and Ready, and finishes a pod's deletion once its
// grace period has passed, as a kubelet does once the containers have stopped.
//
// Annotations tests put on objects:
//
//	upshift.test/crash-loop: "true"   (pod) its containers keep failing: waiting in
//	                                  CrashLoopBackOff, restarts counting up, not Ready,
//	                                  and a BackOff warning event
//	upshift.test/not-ready: "true"    (node) its Ready condition turns False
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	crashLoop = "upshift.test/crash-loop"
	notReady  = "upshift.test/not-ready"
	// how often each node's Lease is renewed and its status refreshed
	leaseEvery  = 10 * time.Second
	statusEvery = 30 * time.Second
	// how often a crash-looping container restarts
	restartEvery = 10 * time.Second
)

// What each EC2 instance type offers (AWS instance type documentation; pods: the VPC
// CNI's maximum for the type).
var instanceTypes = map[string][3]string{
	"m5.large":   {"2", "8Gi", "29"},
	"m5.xlarge":  {"4", "16Gi", "58"},
	"m5.2xlarge": {"8", "32Gi", "58"},
	"c5.xlarge":  {"4", "8Gi", "58"},
}

type fakelet struct {
	client kubernetes.Interface
	mu     sync.Mutex
	// pods whose final delete is already scheduled, by UID
	deleting map[types.UID]bool
	// crash-looping pods already announced with a warning event, by UID
	warned map[types.UID]bool
	ips    map[string]int
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig with rights over nodes, leases, pods and events")
	var nodes multi
	flag.Var(&nodes, "node", "NAME,NODEGROUP,ZONE,INSTANCE-TYPE,KUBELET-VERSION: a node to register (repeatable)")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("fakelet: kubeconfig %s: %v", *kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	cfg.UserAgent = "fakelet"
	f := &fakelet{
		client:   kubernetes.NewForConfigOrDie(cfg),
		deleting: map[types.UID]bool{},
		warned:   map[types.UID]bool{},
		ips:      map[string]int{},
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	for _, spec := range nodes {
		if err := f.register(ctx, spec); err != nil {
			log.Fatalf("fakelet: registering node %q: %v", spec, err)
		}
	}

	factory := informers.NewSharedInformerFactory(f.client, 0)
	nodeInf := factory.Core().V1().Nodes().Informer()
	podInf := factory.Core().V1().Pods().Informer()
	_, _ = nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o interface{}) { go f.heartbeat(ctx, o.(*corev1.Node), true) },
		UpdateFunc: func(old, o interface{}) { f.nodeChanged(ctx, old.(*corev1.Node), o.(*corev1.Node)) },
	})
	_, _ = podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o interface{}) { f.pod(ctx, o.(*corev1.Pod), false) },
		UpdateFunc: func(_, o interface{}) { f.pod(ctx, o.(*corev1.Pod), false) },
	})
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	fmt.Println("fakelet: ready")

	leases := time.NewTicker(leaseEvery)
	statuses := time.NewTicker(statusEvery)
	restarts := time.NewTicker(restartEvery)
	for {
		select {
		case <-ctx.Done():
			return
		case <-leases.C:
			for _, o := range nodeInf.GetStore().List() {
				go f.renew(ctx, o.(*corev1.Node))
			}
		case <-statuses.C:
			for _, o := range nodeInf.GetStore().List() {
				go f.heartbeat(ctx, o.(*corev1.Node), false)
			}
		case <-restarts.C:
			for _, o := range podInf.GetStore().List() {
				if p := o.(*corev1.Pod); p.Annotations[crashLoop] == "true" {
					f.pod(ctx, p, true)
				}
			}
		}
	}
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// register creates a node as an EKS managed node group's kubelet would, if it is not there yet.
func (f *fakelet) register(ctx context.Context, spec string) error {
	p := strings.Split(spec, ",")
	if len(p) != 5 {
		return fmt.Errorf("want NAME,NODEGROUP,ZONE,INSTANCE-TYPE,KUBELET-VERSION")
	}
	name, group, zone, itype, kubelet := p[0], p[1], p[2], p[3], p[4]
	region := zone[:len(zone)-1]
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				"kubernetes.io/hostname":           name,
				"kubernetes.io/os":                 "linux",
				"kubernetes.io/arch":               "amd64",
				"eks.amazonaws.com/nodegroup":      group,
				"eks.amazonaws.com/capacityType":   "ON_DEMAND",
				"topology.kubernetes.io/zone":      zone,
				"topology.kubernetes.io/region":    region,
				"node.kubernetes.io/instance-type": itype,
				"upshift.test/kubelet-version":     kubelet,
			},
		},
		Spec: corev1.NodeSpec{ProviderID: fmt.Sprintf("aws:///%s/i-%017x", zone, hash(name))},
	}
	_, err := f.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func hash(s string) uint64 {
	var h uint64 = 1469598103934665603
	for _, c := range []byte(s) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h >> 4
}

func (f *fakelet) nodeChanged(ctx context.Context, old, n *corev1.Node) {
	if old.Annotations[notReady] != n.Annotations[notReady] {
		go f.heartbeat(ctx, n, true)
	}
}

// renew renews the node's Lease, creating it the first time.
func (f *fakelet) renew(ctx context.Context, n *corev1.Node) {
	leases := f.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, n.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		secs := int32(40)
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name: n.Name,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID,
				}},
			},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &n.Name, LeaseDurationSeconds: &secs, RenewTime: &now},
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
	} else if err == nil {
		l.Spec.RenewTime = &now
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	if err != nil && ctx.Err() == nil && !apierrors.IsConflict(err) {
		log.Printf("fakelet: lease of node %s: %v", n.Name, err)
	}
}

// heartbeat writes the node's status: Ready (unless annotated otherwise), no
// pressure, its capacity and its kubelet's version.
func (f *fakelet) heartbeat(ctx context.Context, n *corev1.Node, first bool) {
	if first {
		f.renew(ctx, n)
	}
	itype := n.Labels["node.kubernetes.io/instance-type"]
	res, ok := instanceTypes[itype]
	if !ok {
		res = instanceTypes["m5.xlarge"]
	}
	kubelet := n.Labels["upshift.test/kubelet-version"]
	if kubelet == "" {
		kubelet = "v1.37.2"
	}
	now := metav1.Now()
	ready := corev1.ConditionTrue
	reason, message := "KubeletReady", "kubelet is posting ready status"
	if n.Annotations[notReady] == "true" {
		ready, reason, message = corev1.ConditionFalse, "KubeletNotReady", "container runtime network not ready"
	}
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, r, m string) corev1.NodeCondition {
		since := now
		for _, c := range n.Status.Conditions {
			if c.Type == t && c.Status == s {
				since = c.LastTransitionTime
			}
		}
		return corev1.NodeCondition{Type: t, Status: s, Reason: r, Message: m, LastHeartbeatTime: now, LastTransitionTime: since}
	}
	st := n.Status.DeepCopy()
	st.Conditions = []corev1.NodeCondition{
		cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		cond(corev1.NodeReady, ready, reason, message),
	}
	list := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(res[0]),
		corev1.ResourceMemory:           resource.MustParse(res[1]),
		corev1.ResourcePods:             resource.MustParse(res[2]),
		corev1.ResourceEphemeralStorage: resource.MustParse("80Gi"),
	}
	st.Capacity, st.Allocatable = list, list
	st.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: nodeIP(n.Name)},
		{Type: corev1.NodeHostName, Address: n.Name},
	}
	st.NodeInfo = corev1.NodeSystemInfo{
		MachineID:               fmt.Sprintf("%032x", hash(n.Name)),
		SystemUUID:              fmt.Sprintf("ec2%029x", hash(n.Name)),
		BootID:                  fmt.Sprintf("%032x", hash(n.Name+"boot")),
		KernelVersion:           "6.1.112-124.190.amzn2023.x86_64",
		OSImage:                 "Amazon Linux 2023.6.20241031",
		ContainerRuntimeVersion: "containerd://2.0.5",
		KubeletVersion:          kubelet,
		OperatingSystem:         "linux",
		Architecture:            "amd64",
	}
	m := n.DeepCopy()
	m.Status = *st
	if _, err := f.client.CoreV1().Nodes().UpdateStatus(ctx, m, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		log.Printf("fakelet: status of node %s: %v", n.Name, err)
	}
}

// pod brings a bound pod's status to what a kubelet would report, and finishes its
// deletion once the grace period has passed. A crash-looping pod restarts again
// only on the restart tick, not on every change to it.
func (f *fakelet) pod(ctx context.Context, p *corev1.Pod, restart bool) {
	if p.Spec.NodeName == "" {
		return
	}
	if p.DeletionTimestamp != nil {
		f.finishDeletion(ctx, p)
		return
	}
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return
	}
	crashing := p.Annotations[crashLoop] == "true"
	if !crashing && p.Status.Phase == corev1.PodRunning && podReady(p) {
		return
	}
	if crashing && !restart && backingOff(p) {
		return
	}
	now := metav1.Now()
	st := p.Status.DeepCopy()
	st.Phase = corev1.PodRunning
	if st.StartTime == nil {
		st.StartTime = &now
	}
	st.HostIP = nodeIP(p.Spec.NodeName)
	st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	if st.PodIP == "" {
		f.mu.Lock()
		f.ips[p.Spec.NodeName]++
		n := f.ips[p.Spec.NodeName]
		f.mu.Unlock()
		st.PodIP = fmt.Sprintf("10.1.%d.%d", hash(p.Spec.NodeName)%250+1, n%250+1)
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	ready := corev1.ConditionTrue
	if crashing {
		ready = corev1.ConditionFalse
	}
	st.Conditions = []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: ready, LastTransitionTime: now},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}
	previous := map[string]corev1.ContainerStatus{}
	for _, c := range p.Status.ContainerStatuses {
		previous[c.Name] = c
	}
	st.InitContainerStatuses = nil
	for _, c := range p.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}},
		})
	}
	st.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		cs := corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image,
			ContainerID: fmt.Sprintf("containerd://%016x", hash(string(p.UID)+c.Name)),
		}
		if crashing {
			cs.RestartCount = previous[c.Name].RestartCount + 1
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason:  "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off 5m0s restarting failed container=%s pod=%s_%s(%s)", c.Name, p.Name, p.Namespace, p.UID),
			}}
			cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 1, Reason: "Error", StartedAt: now, FinishedAt: now,
			}}
		} else {
			started := true
			cs.Ready, cs.Started = true, &started
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	m := p.DeepCopy()
	m.Status = *st
	if _, err := f.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, m, metav1.UpdateOptions{}); err != nil {
		if ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			log.Printf("fakelet: status of pod %s/%s: %v", p.Namespace, p.Name, err)
		}
		return
	}
	if crashing {
		f.backOffEvent(ctx, p)
	}
}

func backingOff(p *corev1.Pod) bool {
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Waiting != nil && c.State.Waiting.Reason == "CrashLoopBackOff" {
			return true
		}
	}
	return false
}

func nodeIP(node string) string {
	return fmt.Sprintf("10.0.%d.%d", hash(node)%250+1, hash(node+"ip")%250+1)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// backOffEvent records the warning a kubelet records for a container in back-off, once per pod.
func (f *fakelet) backOffEvent(ctx context.Context, p *corev1.Pod) {
	f.mu.Lock()
	done := f.warned[p.UID]
	f.warned[p.UID] = true
	f.mu.Unlock()
	if done {
		return
	}
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", p.Name, time.Now().UnixNano()), Namespace: p.Namespace},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID, APIVersion: "v1",
			FieldPath: fmt.Sprintf("spec.containers{%s}", p.Spec.Containers[0].Name),
		},
		Reason:         "BackOff",
		Message:        "Back-off restarting failed container " + p.Spec.Containers[0].Name + " in pod " + p.Name + "_" + p.Namespace + "(" + string(p.UID) + ")",
		Type:           corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "kubelet", Host: p.Spec.NodeName},
		FirstTimestamp: now,
		LastTimestamp:  now,
		Count:          1,
	}
	if _, err := f.client.CoreV1().Events(p.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil && ctx.Err() == nil {
		log.Printf("fakelet: event for pod %s/%s: %v", p.Namespace, p.Name, err)
	}
}

// finishDeletion removes a terminating pod from the API once its deletionTimestamp
// (the time the API server gave its grace period) has passed.
func (f *fakelet) finishDeletion(ctx context.Context, p *corev1.Pod) {
	f.mu.Lock()
	if f.deleting[p.UID] {
		f.mu.Unlock()
		return
	}
	f.deleting[p.UID] = true
	f.mu.Unlock()
	wait := time.Until(p.DeletionTimestamp.Time)
	if wait < 0 {
		wait = 0
	}
	uid := p.UID
	ns, name := p.Namespace, p.Name
	time.AfterFunc(wait, func() {
		zero := int64(0)
		err := f.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero,
			Preconditions:      &metav1.Preconditions{UID: &uid},
		})
		if err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			log.Printf("fakelet: finishing the deletion of pod %s/%s: %v", ns, name, err)
		}
		f.mu.Lock()
		delete(f.deleting, uid)
		delete(f.warned, uid)
		f.mu.Unlock()
	})
}

func init() { log.SetOutput(os.Stderr) }
