/**
 * Calls `task` for every item, at most `lanes` calls under way at once, items taken in order. After
 * a failure no further item is started; the calls under way are waited for, and the first failure
 * is thrown: a step that fails leaves no request of its own in flight behind it.
 */
export async function forEachInLanes<T>(
  items: readonly T[],
  lanes: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        await task(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(lanes, items.length)) }, lane));
  if (failure !== undefined) throw failure.error;
}
