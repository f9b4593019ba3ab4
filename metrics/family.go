package metrics

import (
	"sort"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// families gathers one scrape's metric families by name. Samples are
// added with their label pairs (name, value, name, value...).
type families struct {
	byName map[string]*dto.MetricFamily
}

func newFamilies() *families { return &families{byName: map[string]*dto.MetricFamily{}} }

func (f *families) family(name, help string, typ dto.MetricType) *dto.MetricFamily {
	fam := f.byName[name]
	if fam == nil {
		fam = &dto.MetricFamily{Name: proto.String(name), Help: proto.String(help), Type: typ.Enum()}
		f.byName[name] = fam
	}
	return fam
}

func labelPairs(labels []string) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(labels)/2)
	for i := 0; i+1 < len(labels); i += 2 {
		out = append(out, &dto.LabelPair{Name: proto.String(labels[i]), Value: proto.String(labels[i+1])})
	}
	return out
}

func (f *families) gauge(name, help string, v float64, labels ...string) {
	fam := f.family(name, help, dto.MetricType_GAUGE)
	fam.Metric = append(fam.Metric, &dto.Metric{Label: labelPairs(labels), Gauge: &dto.Gauge{Value: proto.Float64(v)}})
}

func (f *families) counter(name, help string, v float64, labels ...string) {
	fam := f.family(name, help, dto.MetricType_COUNTER)
	fam.Metric = append(fam.Metric, &dto.Metric{Label: labelPairs(labels), Counter: &dto.Counter{Value: proto.Float64(v)}})
}

// histogram adds a histogram of per-bucket counts (the last above every
// bound), as Prometheus's cumulative buckets; nothing when counts and
// bounds disagree.
func (f *families) histogram(name, help string, bounds []float64, counts []uint64, sum float64, labels ...string) {
	if len(counts) != len(bounds)+1 || len(bounds) > maxBuckets || !sort.Float64sAreSorted(bounds) {
		return
	}
	h := &dto.Histogram{SampleSum: proto.Float64(sum)}
	var total uint64
	for i, b := range bounds {
		total += counts[i]
		h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: proto.Float64(b), CumulativeCount: proto.Uint64(total)})
	}
	total += counts[len(bounds)]
	h.SampleCount = proto.Uint64(total)
	fam := f.family(name, help, dto.MetricType_HISTOGRAM)
	fam.Metric = append(fam.Metric, &dto.Metric{Label: labelPairs(labels), Histogram: h})
}

// maxBuckets bounds a histogram a worker reports.
const maxBuckets = 64

// sorted is the families by name.
func (f *families) sorted() []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, 0, len(f.byName))
	for _, fam := range f.byName {
		out = append(out, fam)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}
