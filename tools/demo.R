# The main job of the README quick start: the reference workload of the
# original workflow (1000 x 1000 room, 1000 people, 10,000 iterations), run
# as a two-host SageMaker Processing job in local mode (no AWS account
# needed), merged over the hosts and printed.
library(sagesim)

spec <- simulation_spec(x_length = 1000, y_length = 1000, num_people = 1000,
                        max_iterations = 10000, seed = 42)
job <- submit_processing(simulation = spec, instance_type = "local", instance_count = 2)
result <- job_collect(job)
print(result)
