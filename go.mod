module github.com/wombatkv/prefetch

go 1.25.0

require golang.org/x/sync v0.22.0

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/johannesboyne/gofakes3 v1.2.0 // indirect
	github.com/klauspost/cpuid/v2 v2.0.12 // indirect
	github.com/prometheus/client_golang v1.24.1 // indirect
	github.com/ryszard/goskiplist v0.0.0-20150312221310-2dfbae5fcf46 // indirect
	github.com/zeebo/blake3 v0.2.4 // indirect
	go.shabbyrobe.org/gocovmerge v0.0.0-20230507111327-fa4f82cfbf4d // indirect
	go.uber.org/goleak v1.3.0 // indirect
	gocloud.dev v0.46.0 // indirect
	golang.org/x/tools v0.8.0 // indirect
)
