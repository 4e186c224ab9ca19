# The README's quick start in a container: build, then run the tests or the experiment.
#   docker build -t concur .
#   docker run --rm concur                              # concur crawl --impl asyncio
#   docker run --rm concur sh -c "pip install -e '.[test]' && pytest"
FROM python:3.12-slim
WORKDIR /concur
COPY . .
RUN pip install --no-cache-dir -e '.[all]'
CMD ["concur", "crawl", "--impl", "asyncio"]
