/**
 * The default scheduler of `@sente-rx/client/ws`: `asyncScheduler`'s role (`Date.now()` and
 * `setTimeout`) in a few lines, without RxJS's action and scheduler classes in the bundle
 * (issue 10). An action can reschedule itself (`this.schedule(state, delay)`), as keep-alive's
 * does; unsubscribing it clears its timer.
 */
import { type SchedulerAction, type SchedulerLike, Subscription } from 'rxjs';

export const timerScheduler: SchedulerLike = {
  now: () => Date.now(),
  schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay = 0, state?: T): Subscription {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const action = new Subscription(() => clearTimeout(timer)) as SchedulerAction<T>;
    action.schedule = (next?: T, ms = 0) => {
      clearTimeout(timer);
      if (!action.closed) timer = setTimeout(() => work.call(action, next), ms);
      return action;
    };
    return action.schedule(state, delay);
  },
};
