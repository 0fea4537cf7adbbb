module bulwark.local/tools/node/runc-wrap

go 1.26.0
