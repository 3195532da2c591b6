module github.com/gowwan/wwan

go 1.26
